mod error;
mod process;

fn main() {}
