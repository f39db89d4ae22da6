//! FIXTURE shim engine for the test bed: runs a WASI preview 1 module (the container's
//! entrypoint, from an OCI Wasm layer or a file in its rootfs) with Wasmtime, stdio and
//! environment from the OCI spec, the container's root preopened as "/". Components,
//! precompiled modules and Wasmtime's cache are left out: hello-wasm needs none of them.
use anyhow::{Context, Result, bail};
use containerd_shim_wasm::sandbox::Sandbox;
use containerd_shim_wasm::sandbox::context::RuntimeContext;
use containerd_shim_wasm::shim::{Cli, Config, Shim, Version, version};
use wasmtime::{Config as EngineConfig, Engine, Linker, Module, Store};
use wasmtime_wasi::preview1::{self, WasiP1Ctx};
use wasmtime_wasi::{DirPerms, FilePerms, I32Exit, WasiCtxBuilder};

struct WasmtimeShim;

#[derive(Default)]
struct WasmtimeSandbox;

impl Shim for WasmtimeShim {
    type Sandbox = WasmtimeSandbox;

    fn name() -> &'static str {
        "wasmtime"
    }

    fn version() -> Version {
        version!()
    }
}

fn env_pairs(envs: &[String]) -> Vec<(String, String)> {
    envs.iter()
        .filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect()
}

// Async: the shim drives run_wasi on its own Tokio runtime, inside which WASI's
// synchronous bindings would start a second one (and panic).
async fn run_module(bytes: &[u8], func: &str, args: &[String], envs: &[String]) -> Result<i32> {
    let mut config = EngineConfig::new();
    config.async_support(true);
    let engine = Engine::new(&config)?;
    let module = Module::new(&engine, bytes).context("the entrypoint is not a Wasm module")?;
    let mut linker: Linker<WasiP1Ctx> = Linker::new(&engine);
    preview1::add_to_linker_async(&mut linker, |ctx| ctx)?;
    let wasi = WasiCtxBuilder::new()
        .inherit_stdio()
        .args(args)
        .envs(&env_pairs(envs))
        .preopened_dir("/", "/", DirPerms::all(), FilePerms::all())?
        .build_p1();
    let mut store = Store::new(&engine, wasi);
    let instance = linker.instantiate_async(&mut store, &module).await?;
    let entry = instance
        .get_typed_func::<(), ()>(&mut store, func)
        .with_context(|| format!("the module exports no function {func:?}"))?;
    match entry.call_async(&mut store, ()).await {
        Ok(()) => Ok(0),
        // WASI's proc_exit unwinds as an error carrying the status.
        Err(err) => match err.downcast_ref::<I32Exit>() {
            Some(exit) => Ok(exit.0),
            None => Err(err),
        },
    }
}

impl Sandbox for WasmtimeSandbox {
    async fn run_wasi(&self, ctx: &impl RuntimeContext) -> Result<i32> {
        let entrypoint = ctx.entrypoint();
        if entrypoint.source.is_precompiled()? {
            bail!("precompiled modules are not supported by this shim");
        }
        let bytes = entrypoint.source.as_bytes()?;
        run_module(&bytes, &entrypoint.func, ctx.args(), ctx.envs()).await
    }
}

/// FIXTURE (test bed): the test bed's machines lack CAP_SYS_RESOURCE, so no process there
/// may lower its oom_score_adj, while containerd asks -998 for every pod sandbox and this
/// shim's container library fails to set it ("io error"). containerd's
/// restrict_oom_score_adj would clamp it to the shim's own value, but K3s sets that only in
/// a user namespace. containerd starts a shim in the bundle of the pod's sandbox, so the
/// shim clamps that bundle's process.oomScoreAdj the same way before anything reads it.
fn clamp_sandbox_oom_score_adj() {
    let Ok(raw) = std::fs::read("config.json") else { return };
    let Ok(mut spec) = serde_json::from_slice::<serde_json::Value>(&raw) else { return };
    let own: i64 = std::fs::read_to_string("/proc/self/oom_score_adj")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    if let Some(adj) = spec.pointer_mut("/process/oomScoreAdj") {
        if adj.as_i64().is_some_and(|value| value < own) {
            *adj = own.into();
            if let Ok(out) = serde_json::to_vec(&spec) {
                let _ = std::fs::write("config.json", out);
            }
        }
    }
}

fn main() {
    clamp_sandbox_oom_score_adj();
    WasmtimeShim::run(Config::default());
}
