/*
 * The pod sandbox's process for the CRI tests (integration/cri): holds the
 * pod's namespaces until told to stop. As pid 1 of a shared pid namespace
 * it also reaps the orphans the pod's containers leave, and it has to
 * handle SIGTERM itself: the kernel drops signals to a pid 1 that has no
 * handler for them. Built statically at test time, the only file of the
 * sandbox image.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int sig)
{
	(void)sig;
	_exit(0);
}

static void reap(int sig)
{
	(void)sig;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

int main(void)
{
	struct sigaction quit = { .sa_handler = stop };
	struct sigaction child = { .sa_handler = reap, .sa_flags = SA_NOCLDSTOP };

	if (sigaction(SIGTERM, &quit, NULL) || sigaction(SIGINT, &quit, NULL) ||
	    sigaction(SIGCHLD, &child, NULL))
		return 1;
	for (;;)
		pause();
}
