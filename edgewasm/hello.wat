;; hello-wasm: the smallest WASI (wasip1) program that proves a node runs WebAssembly.
;; Built into hello.wasm by edgewasm/hello_wasm.py (wasmtime.wat2wasm); no toolchain needed.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory 1)
  (export "memory" (memory 0))
  ;; iovec at 0: base 16, length 40 (the greeting below, newline included)
  (data (i32.const 0) "\10\00\00\00\28\00\00\00")
  (data (i32.const 16) "Hello from edgewasm: WebAssembly is up.\0a")
  (func (export "_start")
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
