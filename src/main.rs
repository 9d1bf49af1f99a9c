#![forbid(unsafe_code)]

use clap::Parser;

/// mimalloc instead of glibc's malloc: in the 10,000-client benchmark the peak
/// RSS over the run (creation, then steady-state LISTs of the whole account) was
/// 141 MiB with it and 154 MiB without (bench/results/README.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The stack of each runtime thread. A reconcile is one deep future, and on top
/// of it a Secret template compiles and renders recursively (up to its
/// recursion limit, `secret::template::RECURSION_LIMIT`): tokio's 2 MiB default
/// left too little room in a debug build (the hostile-input row
/// `template-deep-nesting` overflowed it and aborted the process). Stack pages
/// are touched only as used, so the headroom costs address space, not memory.
const THREAD_STACK: usize = 16 * 1024 * 1024;

fn main() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(THREAD_STACK)
        .build()?
        .block_on(clientops::cli::Cli::parse().run())
}
