//! The wasmtime engine, shared by every application in the process.
//!
//! Compiled code is cached on disk (in `$TROUPE_HOST_CACHE_DIR`, or
//! `troupe-host/` under the user's cache directory), so a second run loads
//! the same components without compiling them again. Sharing one engine
//! also lets the applications of a test suite share compiled code in memory.

use std::{path::PathBuf, sync::OnceLock, thread, time::Duration};

use anyhow::Context as _;
use wasmtime::{Cache, CacheConfig, Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances: spin-core's `DEFAULT_EPOCH_TICK_INTERVAL`.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The epoch deadline of every store: spin-core's, "practically forever"
/// (Spin sets none by default, yet its compiled code checks the epoch).
pub(crate) const EPOCH_DEADLINE: u64 = u64::MAX / 2;

const MIB: usize = 1 << 20;

/// The engine, created on first use.
///
/// Configured as spin-core's `Config::default()` and `EngineBuilder` make
/// Spin's, for what a request costs: epoch interruption (a check in every
/// function and loop of the compiled code) with a thread advancing the epoch
/// every 10 ms, and instances allocated from a pool sized as Spin's defaults
/// (a fresh instance per request then costs no mmap/munmap of its memories,
/// and keeps the first 2 MiB of each memory resident, zeroed, between
/// instances). Hosts without the virtual address space for the pool fall
/// back to allocating on demand, as Spin does.
pub(crate) fn engine() -> anyhow::Result<Engine> {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    if let Some(engine) = ENGINE.get() {
        return Ok(engine.clone());
    }
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    // For `perf record -p <pid>`: name the compiled guest functions in
    // /tmp/perf-<pid>.map (components built with symbols keep their names).
    if std::env::var_os("TROUPE_HOST_PERFMAP").is_some() {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    let mut cache = CacheConfig::new();
    cache.with_directory(cache_dir());
    config.cache(Some(Cache::new(cache).map_err(anyhow::Error::from).context("setting up the compilation cache")?));
    let mut pooling = PoolingAllocationConfig::default();
    pooling
        .total_component_instances(1_000)
        .total_memories(1_000)
        .total_tables(2_000)
        .total_stacks(1_000)
        .total_core_instances(4_000)
        .table_elements(100_000)
        .max_component_instance_size(10 * MIB)
        .max_core_instance_size(10 * MIB)
        .max_core_instances_per_component(200)
        .max_tables_per_component(64)
        .max_memories_per_component(32)
        .max_tables_per_module(2)
        .max_memories_per_module(2)
        .max_memory_size(4 << 30)
        .linear_memory_keep_resident(2 * MIB)
        .table_keep_resident(MIB / 2);
    let mut pooled = config.clone();
    pooled.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    let engine = match Engine::new(&pooled) {
        Ok(engine) => engine,
        Err(_) => Engine::new(&config)?,
    };
    // Another thread may have won the race; either engine works, keep one.
    let mut made = false;
    let engine = ENGINE.get_or_init(|| {
        made = true;
        engine
    });
    if made {
        let ticking = engine.weak();
        thread::Builder::new().name("epoch-ticker".into()).spawn(move || loop {
            thread::sleep(EPOCH_TICK);
            let Some(engine) = ticking.upgrade() else { break };
            engine.increment_epoch();
        })?;
    }
    Ok(engine.clone())
}

/// Where compiled code is cached.
pub fn cache_dir() -> PathBuf {
    match std::env::var_os("TROUPE_HOST_CACHE_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => dirs::cache_dir().unwrap_or_else(std::env::temp_dir).join("troupe-host"),
    }
}
