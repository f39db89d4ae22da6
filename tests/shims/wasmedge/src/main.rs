//! FIXTURE shim engine for the test bed: runs a WASI preview 1 module (the container's
//! entrypoint, from an OCI Wasm layer or a file in its rootfs) with WasmEdge (the system's
//! libwasmedge, its own WASI), stdio and environment from the OCI spec, the container's root
//! preopened as "/". Components, AOT-compiled modules and plugins are left out: hello-wasm
//! needs none of them.
use std::collections::HashMap;

use anyhow::{Context, Result, bail};
use containerd_shim_wasm::sandbox::Sandbox;
use containerd_shim_wasm::sandbox::context::RuntimeContext;
use containerd_shim_wasm::shim::{Cli, Config, Shim, Version, version};
use wasmedge_sdk::error::{CoreCommonError, CoreError, WasmEdgeError};
use wasmedge_sdk::vm::SyncInst;
use wasmedge_sdk::wasi::WasiModule;
use wasmedge_sdk::{Module, Store, Vm};

struct WasmEdgeShim;

#[derive(Default)]
struct WasmEdgeSandbox;

impl Shim for WasmEdgeShim {
    type Sandbox = WasmEdgeSandbox;

    fn name() -> &'static str {
        "wasmedge"
    }

    fn version() -> Version {
        version!()
    }
}

/// Runs ``func`` (normally `_start`) of the module in ``bytes``; its WASI exit code.
fn run_module(bytes: &[u8], func: &str, args: &[String], envs: &[String]) -> Result<i32> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let envs: Vec<&str> = envs.iter().map(String::as_str).collect();
    // Preopens are GUEST:HOST; inside the container "/" is its rootfs.
    let mut wasi = WasiModule::create(Some(args), Some(envs), Some(vec!["/:/"]))
        .context("WasmEdge could not create its WASI module")?;
    {
        let mut imports: HashMap<String, &mut dyn SyncInst> = HashMap::new();
        imports.insert(wasi.name().to_string(), wasi.as_mut());
        let mut vm = Vm::new(Store::new(None, imports)?);
        let module = Module::from_bytes(None, bytes).context("the entrypoint is not a Wasm module")?;
        vm.register_module(None, module).context("WasmEdge could not instantiate the module")?;
        match vm.run_func(None, func, []) {
            Ok(_) => {}
            // proc_exit ends the run as "terminated"; the status is the WASI module's.
            Err(err) if matches!(*err, WasmEdgeError::Core(CoreError::Common(CoreCommonError::Terminated))) => {}
            Err(err) => return Err(err).with_context(|| format!("running the module's {func:?}")),
        }
    }
    Ok(wasi.exit_code() as i32)
}

impl Sandbox for WasmEdgeSandbox {
    // WasmEdge runs synchronously: the container's process does nothing else meanwhile.
    async fn run_wasi(&self, ctx: &impl RuntimeContext) -> Result<i32> {
        let entrypoint = ctx.entrypoint();
        if entrypoint.source.is_precompiled()? {
            bail!("precompiled modules are not supported by this shim");
        }
        let bytes = entrypoint.source.as_bytes()?;
        run_module(&bytes, &entrypoint.func, ctx.args(), ctx.envs())
    }
}

/// FIXTURE (test bed): see tests/shims/wasmtime/src/main.rs, which does the same. The test
/// bed's machines lack CAP_SYS_RESOURCE, so the -998 that containerd asks of every pod
/// sandbox's oom_score_adj is clamped to the shim's own value in the sandbox's config.json.
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

/// The flag of the test harness below; no containerd flag looks like it.
const RUN_MODULE_FLAG: &str = "--fixture-run-module";

/// TEST HARNESS, not a shim mode: `containerd-shim-wasmedge-v1 --fixture-run-module FILE
/// [ARG...]` runs FILE's `_start` with the engine above, as a container would (args FILE
/// ARG..., this process's environment and stdio, "/" preopened), without containerd or a
/// container, and exits with the module's exit code: a smoke of the built shim on a trixie
/// root (where libwasmedge0 is), e.g. with edgewasm's hello-wasm module.
fn fixture_run_module(args: &[String]) -> ! {
    let Some(file) = args.first() else {
        eprintln!("usage: containerd-shim-wasmedge-v1 {RUN_MODULE_FLAG} FILE [ARG...]");
        std::process::exit(2);
    };
    let envs: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
    let result = std::fs::read(file)
        .with_context(|| format!("reading {file}"))
        .and_then(|bytes| run_module(&bytes, "_start", args, &envs));
    match result {
        Ok(code) => std::process::exit(code),
        Err(err) => {
            eprintln!("containerd-shim-wasmedge-v1: {err:#}");
            std::process::exit(125);
        }
    }
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some(RUN_MODULE_FLAG) {
        fixture_run_module(&argv[2..]);
    }
    clamp_sandbox_oom_score_adj();
    WasmEdgeShim::run(Config::default());
}
