#!/usr/bin/env bats
# runtime.md: state, lifecycle and operations.
load helpers

@test "runtime.md state: id MUST be unique across containers on this host (create of a used id fails)" {
	process sleep 1000
	created "$(cid)"
	run created "$(cid)"
	[ "$status" -ne 0 ]
	[[ $output == *"$(cid)"* ]]
	[ "$(state_of "$(cid)" status)" = created ]
}
