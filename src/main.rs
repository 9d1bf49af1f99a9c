#![forbid(unsafe_code)]

use clap::Parser;

/// mimalloc instead of glibc's malloc: in the 10,000-client benchmark the peak
/// RSS over the run (creation, then steady-state LISTs of the whole account) was
/// 141 MiB with it and 154 MiB without (bench/results/README.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    clientops::cli::Cli::parse().run().await
}
