//! The wasmtime engine, shared by every application in the process.
//!
//! Compiled code is cached on disk (in `$TROUPE_HOST_CACHE_DIR`, or
//! `troupe-host/` under the user's cache directory), so a second run loads
//! the same components without compiling them again. Sharing one engine
//! also lets the applications of a test suite share compiled code in memory.

use std::{path::PathBuf, sync::OnceLock};

use anyhow::Context as _;
use wasmtime::{Cache, CacheConfig, Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// The engine, created on first use.
pub(crate) fn engine() -> anyhow::Result<Engine> {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    if let Some(engine) = ENGINE.get() {
        return Ok(engine.clone());
    }
    let mut config = Config::new();
    config.wasm_component_model(true);
    let mut cache = CacheConfig::new();
    cache.with_directory(cache_dir());
    config.cache(Some(Cache::new(cache).map_err(anyhow::Error::from).context("setting up the compilation cache")?));
    // Like Spin, allocate instances from a pool: a fresh instance per
    // request then costs no mmap/munmap of its memories. Spin caps each
    // component at 32 memories; hosts without the virtual address space for
    // the pool fall back to allocating on demand.
    let mut pooling = PoolingAllocationConfig::default();
    pooling
        .total_component_instances(1_000)
        .total_core_instances(4_000)
        .total_memories(2_000)
        .total_tables(2_000)
        .max_memories_per_component(32)
        .max_memory_size(1 << 30);
    let mut pooled = config.clone();
    pooled.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    let engine = match Engine::new(&pooled) {
        Ok(engine) => engine,
        Err(_) => Engine::new(&config)?,
    };
    // Another thread may have won the race; either engine works, keep one.
    Ok(ENGINE.get_or_init(|| engine).clone())
}

/// Where compiled code is cached.
pub fn cache_dir() -> PathBuf {
    match std::env::var_os("TROUPE_HOST_CACHE_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => dirs::cache_dir().unwrap_or_else(std::env::temp_dir).join("troupe-host"),
    }
}
