;; bench-wasm: the Wasm side of edgewasm-bench's workload (issue 32). One module serves
;; every probe; what it does is chosen by its arguments (argv[1..]), so a pod is the image
;; plus `args:`. bench-native (edgewasm/bench.sh under busybox, for runc) does the same,
;; byte for byte on stdout, so the bench compares runtimes and not programs:
;;
;;   (no args)      the greeting of hello-wasm, exit 0
;;   stdout TEXT..  TEXT (the arguments joined by spaces) and a newline on stdout
;;   stderr TEXT..  the same on stderr
;;   args ARG..     each ARG on its own line
;;   env NAME       NAME's value and a newline; nothing and exit 1 when it is unset
;;   cat PATH       the file's bytes (PATH opened under the preopened directories)
;;   exit N         exit status N (0-125: see $exit)
;;   alloc MIB      grow linear memory by MIB MiB, write to every 4 KiB page of it, then
;;                  "allocated MIB MiB"; exit 1 when the runtime refuses the memory
;;   now            the wall clock (realtime) in ns since the epoch
;;   sleep SECONDS  wait SECONDS seconds (poll_oneoff on the monotonic clock), print nothing,
;;                  exit 0: the long-running pod of the bench's density and memory phases
;;   anything else  a usage line on stderr, exit 2
;;
;; Built into bench.wasm by edgewasm/bench_images.py (wasmtime.wat2wasm), as hello.wat is.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close"
    (func $fd_close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_get"
    (func $fd_prestat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_dir_name"
    (func $fd_prestat_dir_name (param i32 i32 i32) (result i32)))
  ;; path_open(dirfd, lookupflags, path, path_len, oflags, rights_base, rights_inheriting,
  ;;           fdflags, *fd)
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get"
    (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get"
    (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get"
    (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get"
    (func $environ_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get"
    (func $clock_time_get (param i32 i64 i32) (result i32)))
  ;; poll_oneoff(subscriptions, events, nsubscriptions, *nevents)
  (import "wasi_snapshot_preview1" "poll_oneoff"
    (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit"
    (func $proc_exit (param i32)))

  (memory 1)
  (export "memory" (memory 0))

  ;; ---------------------------------------------------------------- memory layout
  ;; 0-63      scratch for WASI results: iovec (0), nwritten/nread (8), sizes (16, 20),
  ;;           prestat (24: tag, 28: name length), opened fd (32), clock (40, u64)
  ;; 64-95     decimal digits of a number being printed (filled from the end)
  ;; 128-1023  the constant strings below, NUL-terminated
  ;; 1024-     the heap: argv, environ, preopen names, the read buffer ($sbrk)
  (global $GREETING i32 (i32.const 128))
  (global $STDOUT i32 (i32.const 192))
  (global $STDERR i32 (i32.const 200))
  (global $ARGS i32 (i32.const 208))
  (global $ENV i32 (i32.const 216))
  (global $CAT i32 (i32.const 224))
  (global $EXIT i32 (i32.const 232))
  (global $ALLOC i32 (i32.const 240))
  (global $NOW i32 (i32.const 248))
  (global $NEWLINE i32 (i32.const 256))
  (global $SPACE i32 (i32.const 260))
  (global $ALLOCATED i32 (i32.const 264))
  (global $MIB i32 (i32.const 280))
  (global $CANNOT_HOLD i32 (i32.const 288))
  (global $CANNOT_READ i32 (i32.const 320))
  (global $USAGE i32 (i32.const 352))
  (global $SLEEP i32 (i32.const 480))
  (global $CANNOT_WAIT i32 (i32.const 488))
  ;; Byte for byte hello-wasm's greeting (edgewasm/hello.wat; a unit test holds them equal).
  (data (i32.const 128) "Hello from edgewasm: WebAssembly is up.\0a\00")
  (data (i32.const 192) "stdout\00")
  (data (i32.const 200) "stderr\00")
  (data (i32.const 208) "args\00")
  (data (i32.const 216) "env\00")
  (data (i32.const 224) "cat\00")
  (data (i32.const 232) "exit\00")
  (data (i32.const 240) "alloc\00")
  (data (i32.const 248) "now\00")
  (data (i32.const 256) "\0a\00")
  (data (i32.const 260) " \00")
  (data (i32.const 264) "allocated \00")
  (data (i32.const 280) " MiB\0a\00")
  (data (i32.const 288) "alloc: cannot hold \00")
  (data (i32.const 320) "cat: cannot read \00")
  (data (i32.const 352) "usage: bench [stdout TEXT.. | stderr TEXT.. | args ARG.. | env NAME | cat PATH | exit N | alloc MIB | now | sleep SECONDS]\0a\00")
  (data (i32.const 480) "sleep\00")
  (data (i32.const 488) "sleep: cannot wait\0a\00")

  ;; ---------------------------------------------------------------- heap
  (global $heap (mut i32) (i32.const 1024))

  ;; $n bytes of fresh memory (8-aligned), growing the memory when the heap reaches its end.
  (func $sbrk (param $n i32) (result i32)
    (local $p i32) (local $end i32)
    (local.set $p (i32.and (i32.add (global.get $heap) (i32.const 7)) (i32.const -8)))
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    (if (i32.gt_u (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
      (then
        ;; whole 64 KiB pages up to $end; a refused grow is a trap (nothing sane to do)
        (if (i32.eq (i32.const -1)
                    (memory.grow (i32.sub (i32.shr_u (i32.add (local.get $end) (i32.const 65535)) (i32.const 16))
                                          (memory.size))))
          (then (unreachable)))))
    (global.set $heap (local.get $end))
    (local.get $p))

  ;; ---------------------------------------------------------------- strings and output
  (func $strlen (param $p i32) (result i32)
    (local $n i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $n)))))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $n))

  ;; 1 when the NUL-terminated strings at $a and $b are equal.
  (func $streq (param $a i32) (param $b i32) (result i32)
    (local $c i32)
    (loop $next
      (local.set $c (i32.load8_u (local.get $a)))
      (if (i32.ne (local.get $c) (i32.load8_u (local.get $b))) (then (return (i32.const 0))))
      (if (i32.eqz (local.get $c)) (then (return (i32.const 1))))
      (local.set $a (i32.add (local.get $a) (i32.const 1)))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br $next))
    (i32.const 0))

  ;; Write all of [$p, $p+$len) to $fd: fd_write may take part of it (a full pipe), so
  ;; write the rest until none is left; on an error there is nowhere to report it.
  (func $write (param $fd i32) (param $p i32) (param $len i32)
    (block $done
      (loop $more
        (br_if $done (i32.eqz (local.get $len)))
        (i32.store (i32.const 0) (local.get $p))
        (i32.store (i32.const 4) (local.get $len))
        (br_if $done (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8)))
        (br_if $done (i32.eqz (i32.load (i32.const 8))))
        (local.set $p (i32.add (local.get $p) (i32.load (i32.const 8))))
        (local.set $len (i32.sub (local.get $len) (i32.load (i32.const 8))))
        (br $more))))

  (func $print (param $fd i32) (param $s i32)
    (call $write (local.get $fd) (local.get $s) (call $strlen (local.get $s))))

  (func $println (param $fd i32) (param $s i32)
    (call $print (local.get $fd) (local.get $s))
    (call $print (local.get $fd) (global.get $NEWLINE)))

  ;; $v in decimal, digits written backwards from the end of the digit buffer.
  (func $print_u64 (param $fd i32) (param $v i64)
    (local $p i32)
    (local.set $p (i32.const 96))
    (loop $digit
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p) (i32.add (i32.const 48) (i32.wrap_i64 (i64.rem_u (local.get $v) (i64.const 10)))))
      (local.set $v (i64.div_u (local.get $v) (i64.const 10)))
      (br_if $digit (i64.ne (local.get $v) (i64.const 0))))
    (call $write (local.get $fd) (local.get $p) (i32.sub (i32.const 96) (local.get $p))))

  ;; A count argument: 1 to 9 decimal digits (no i32 overflow), no sign and no leading
  ;; zero, so the shell side (which would read "010" as octal in arithmetic) agrees on
  ;; every accepted value; -1 for anything else.
  (func $number (param $s i32) (result i32)
    (local $len i32) (local $n i32) (local $d i32)
    (local.set $len (call $strlen (local.get $s)))
    (if (i32.or (i32.eqz (local.get $len)) (i32.gt_u (local.get $len) (i32.const 9)))
      (then (return (i32.const -1))))
    (if (i32.and (i32.gt_u (local.get $len) (i32.const 1)) (i32.eq (i32.load8_u (local.get $s)) (i32.const 48)))
      (then (return (i32.const -1))))
    (block $done
      (loop $next
        (br_if $done (i32.eqz (i32.load8_u (local.get $s))))
        (local.set $d (i32.sub (i32.load8_u (local.get $s)) (i32.const 48)))
        (if (i32.gt_u (local.get $d) (i32.const 9)) (then (return (i32.const -1))))
        (local.set $n (i32.add (i32.mul (local.get $n) (i32.const 10)) (local.get $d)))
        (local.set $s (i32.add (local.get $s) (i32.const 1)))
        (br $next)))
    (local.get $n))

  ;; ---------------------------------------------------------------- arguments, environment
  (global $argc (mut i32) (i32.const 0))
  (global $argv (mut i32) (i32.const 0))
  (global $envc (mut i32) (i32.const 0))
  (global $envv (mut i32) (i32.const 0))

  ;; argv into the heap: a table of pointers to NUL-terminated strings.
  (func $load_args
    (drop (call $args_sizes_get (i32.const 16) (i32.const 20)))
    (global.set $argc (i32.load (i32.const 16)))
    (global.set $argv (call $sbrk (i32.mul (global.get $argc) (i32.const 4))))
    (drop (call $args_get (global.get $argv) (call $sbrk (i32.load (i32.const 20))))))

  (func $arg (param $i i32) (result i32)
    (i32.load (i32.add (global.get $argv) (i32.shl (local.get $i) (i32.const 2)))))

  ;; environ into the heap, the same way ("NAME=value" strings).
  (func $load_env
    (drop (call $environ_sizes_get (i32.const 16) (i32.const 20)))
    (global.set $envc (i32.load (i32.const 16)))
    (global.set $envv (call $sbrk (i32.mul (global.get $envc) (i32.const 4))))
    (drop (call $environ_get (global.get $envv) (call $sbrk (i32.load (i32.const 20))))))

  ;; The value of the first "NAME=value" entry whose NAME is $name, or 0 when unset.
  (func $getenv (param $name i32) (result i32)
    (local $i i32) (local $e i32) (local $n i32)
    (call $load_env)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (global.get $envc)))
        (local.set $e (i32.load (i32.add (global.get $envv) (i32.shl (local.get $i) (i32.const 2)))))
        (local.set $n (local.get $name))
        ;; walk $name along the entry; a match ends the name exactly at the entry's '='
        (block $differs
          (loop $char
            (if (i32.eqz (i32.load8_u (local.get $n)))
              (then
                (br_if $differs (i32.ne (i32.load8_u (local.get $e)) (i32.const 61)))
                (return (i32.add (local.get $e) (i32.const 1)))))
            (br_if $differs (i32.ne (i32.load8_u (local.get $n)) (i32.load8_u (local.get $e))))
            (local.set $n (i32.add (local.get $n) (i32.const 1)))
            (local.set $e (i32.add (local.get $e) (i32.const 1)))
            (br $char)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i32.const 0))

  ;; ---------------------------------------------------------------- files
  ;; How many leading bytes of $path the preopen named [$name, $name+$len) covers, or -1
  ;; when it covers none: the name (trailing '/' dropped, so "/" covers every absolute
  ;; path) must be a prefix of $path that ends at a '/' or at the end of $path.
  (func $prefix_len (param $name i32) (param $len i32) (param $path i32) (result i32)
    (local $i i32) (local $c i32)
    (block $trimmed
      (loop $trim
        (br_if $trimmed (i32.eqz (local.get $len)))
        (br_if $trimmed (i32.ne (i32.load8_u (i32.add (local.get $name) (i32.sub (local.get $len) (i32.const 1))))
                                (i32.const 47)))
        (local.set $len (i32.sub (local.get $len) (i32.const 1)))
        (br $trim)))
    (block $compared
      (loop $next
        (br_if $compared (i32.eq (local.get $i) (local.get $len)))
        (if (i32.ne (i32.load8_u (i32.add (local.get $name) (local.get $i)))
                    (i32.load8_u (i32.add (local.get $path) (local.get $i))))
          (then (return (i32.const -1))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.set $c (i32.load8_u (i32.add (local.get $path) (local.get $len))))
    (if (result i32) (i32.or (i32.eqz (local.get $c)) (i32.eq (local.get $c) (i32.const 47)))
      (then (local.get $len))
      (else (i32.const -1))))

  ;; Open $path for reading; the fd, or -1. WASI has no open() of an absolute path: a
  ;; file is opened relative to a directory the runtime preopened (fds 3.. until the
  ;; first that is no preopen). As wasi-libc does, take the preopen whose name is the
  ;; longest prefix of $path; the runwasi shims preopen "/", so every path resolves there.
  (func $open (param $path i32) (result i32)
    (local $fd i32) (local $best_fd i32) (local $best i32) (local $len i32) (local $name i32) (local $rest i32)
    (local.set $fd (i32.const 3))
    (local.set $best_fd (i32.const -1))
    (local.set $best (i32.const -1))
    (block $done
      (loop $next
        (br_if $done (call $fd_prestat_get (local.get $fd) (i32.const 24)))
        (if (i32.eqz (i32.load8_u (i32.const 24)))  ;; tag 0: a preopened directory
          (then
            (local.set $len (i32.load (i32.const 28)))
            (local.set $name (call $sbrk (local.get $len)))
            (if (i32.eqz (call $fd_prestat_dir_name (local.get $fd) (local.get $name) (local.get $len)))
              (then
                (local.set $len (call $prefix_len (local.get $name) (local.get $len) (local.get $path)))
                (if (i32.gt_s (local.get $len) (local.get $best))
                  (then (local.set $best (local.get $len)) (local.set $best_fd (local.get $fd))))))))
        (local.set $fd (i32.add (local.get $fd) (i32.const 1)))
        (br $next)))
    (if (i32.lt_s (local.get $best_fd) (i32.const 0)) (then (return (i32.const -1))))
    ;; the rest of the path, relative to that directory ("." when nothing is left)
    (local.set $rest (i32.add (local.get $path) (local.get $best)))
    (block $skipped
      (loop $slash
        (br_if $skipped (i32.ne (i32.load8_u (local.get $rest)) (i32.const 47)))
        (local.set $rest (i32.add (local.get $rest) (i32.const 1)))
        (br $slash)))
    (if (i32.eqz (i32.load8_u (local.get $rest)))
      (then (local.set $rest (call $sbrk (i32.const 2))) (i32.store16 (local.get $rest) (i32.const 46))))
    ;; follow symlinks (lookupflags 1), no O_CREAT etc. (oflags 0), rights: fd_read (1 << 1)
    (if (call $path_open (local.get $best_fd) (i32.const 1) (local.get $rest) (call $strlen (local.get $rest))
                         (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 32))
      (then (return (i32.const -1))))
    (i32.load (i32.const 32)))

  ;; ---------------------------------------------------------------- subcommands
  ;; A usage line on stderr and exit 2 (a probe the bench got wrong, not a runtime fault).
  (func $usage
    (call $print (i32.const 2) (global.get $USAGE))
    (call $proc_exit (i32.const 2)))

  ;; Exactly one argument after the subcommand, or usage.
  (func $one_arg (result i32)
    (if (i32.ne (global.get $argc) (i32.const 3)) (then (call $usage)))
    (call $arg (i32.const 2)))

  ;; stdout / stderr: the arguments after the subcommand joined by spaces, and a newline.
  (func $echo (param $fd i32)
    (local $i i32)
    (local.set $i (i32.const 2))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (global.get $argc)))
        (if (i32.gt_u (local.get $i) (i32.const 2)) (then (call $print (local.get $fd) (global.get $SPACE))))
        (call $print (local.get $fd) (call $arg (local.get $i)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (call $print (local.get $fd) (global.get $NEWLINE)))

  (func $args
    (local $i i32)
    (local.set $i (i32.const 2))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (global.get $argc)))
        (call $println (i32.const 1) (call $arg (local.get $i)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next))))

  (func $env
    (local $value i32)
    (local.set $value (call $getenv (call $one_arg)))
    (if (i32.eqz (local.get $value)) (then (call $proc_exit (i32.const 1))))
    (call $println (i32.const 1) (local.get $value)))

  ;; cat: copy the file to stdout through a 64 KiB buffer.
  (func $cat
    (local $path i32) (local $fd i32) (local $buf i32)
    (local.set $path (call $one_arg))
    (local.set $fd (call $open (local.get $path)))
    (local.set $buf (call $sbrk (i32.const 65536)))
    (block $failed
      (br_if $failed (i32.lt_s (local.get $fd) (i32.const 0)))
      (loop $more
        (i32.store (i32.const 0) (local.get $buf))
        (i32.store (i32.const 4) (i32.const 65536))
        (br_if $failed (call $fd_read (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8)))
        (if (i32.eqz (i32.load (i32.const 8)))
          (then (drop (call $fd_close (local.get $fd))) (return)))
        (call $write (i32.const 1) (local.get $buf) (i32.load (i32.const 8)))
        (br $more)))
    (call $print (i32.const 2) (global.get $CANNOT_READ))
    (call $println (i32.const 2) (local.get $path))
    (call $proc_exit (i32.const 1)))

  ;; exit: 0-125 only. Wasmtime (CLI and runwasi shim alike) refuses a proc_exit status
  ;; outside [0, 126) with a trap, and 126 and up mean the runtime's or the kernel's own
  ;; failures (137: killed), which a probe must not be mistaken for.
  (func $exit
    (local $n i32)
    (local.set $n (call $number (call $one_arg)))
    (if (i32.or (i32.lt_s (local.get $n) (i32.const 0)) (i32.gt_s (local.get $n) (i32.const 125)))
      (then (call $usage)))
    (call $proc_exit (local.get $n)))

  ;; alloc: memory.grow alone only reserves address space; the runtime maps it lazily,
  ;; so write one byte in every 4 KiB host page: then the pages are really resident and
  ;; charged to the pod's memory cgroup, where a lower limit OOM-kills the runtime. A
  ;; grow the runtime refuses (its own limits; 4 GiB is wasm32's end) is exit 1.
  (func $alloc
    (local $text i32) (local $mib i32) (local $old i32) (local $addr i32) (local $left i32)
    (local.set $text (call $one_arg))
    (local.set $mib (call $number (local.get $text)))
    (if (i32.lt_s (local.get $mib) (i32.const 0)) (then (call $usage)))
    (if (i32.ge_u (local.get $mib) (i32.const 4096)) (then (local.set $old (i32.const -1)))
      (else (local.set $old (memory.grow (i32.shl (local.get $mib) (i32.const 4))))))  ;; 16 pages a MiB
    (if (i32.eq (local.get $old) (i32.const -1))
      (then
        (call $print (i32.const 2) (global.get $CANNOT_HOLD))
        (call $print (i32.const 2) (local.get $text))
        (call $print (i32.const 2) (global.get $MIB))
        (call $proc_exit (i32.const 1))))
    (local.set $addr (i32.shl (local.get $old) (i32.const 16)))
    (local.set $left (i32.shl (local.get $mib) (i32.const 8)))  ;; 256 host pages a MiB
    (block $done
      (loop $touch
        (br_if $done (i32.eqz (local.get $left)))
        (i32.store8 (local.get $addr) (i32.const 1))
        (local.set $addr (i32.add (local.get $addr) (i32.const 4096)))
        (local.set $left (i32.sub (local.get $left) (i32.const 1)))
        (br $touch)))
    (call $print (i32.const 1) (global.get $ALLOCATED))
    (call $print (i32.const 1) (local.get $text))
    (call $print (i32.const 1) (global.get $MIB)))

  ;; now: clock 0 is realtime (the bench subtracts it from the pod's creation time).
  (func $now
    (drop (call $clock_time_get (i32.const 0) (i64.const 1) (i32.const 40)))
    (call $print_u64 (i32.const 1) (i64.load (i32.const 40)))
    (call $print (i32.const 1) (global.get $NEWLINE)))

  ;; sleep: one subscription to the monotonic clock (id 1) with a relative timeout (flags
  ;; 0), waited for by poll_oneoff. WASI preview1's layouts: a subscription is 48 bytes
  ;; (userdata u64 @0, tag u8 @8 = 0 clock, clock id u32 @16, timeout u64 @24, precision
  ;; u64 @32, flags u16 @40), an event 32 (userdata @0, error u16 @8, type u8 @10).
  ;; 9 digits of seconds in ns fit a u64. A runtime that cannot wait is exit 1.
  (func $sleep
    (local $seconds i32) (local $sub i32) (local $event i32)
    (local.set $seconds (call $number (call $one_arg)))
    (if (i32.lt_s (local.get $seconds) (i32.const 0)) (then (call $usage)))
    (if (i32.eqz (local.get $seconds)) (then (return)))
    (local.set $sub (call $sbrk (i32.const 48)))
    (local.set $event (call $sbrk (i32.const 32)))
    (i64.store (local.get $sub) (i64.const 0))
    (i64.store offset=8 (local.get $sub) (i64.const 0))
    (i32.store offset=16 (local.get $sub) (i32.const 1))
    (i32.store offset=20 (local.get $sub) (i32.const 0))
    (i64.store offset=24 (local.get $sub)
      (i64.mul (i64.extend_i32_u (local.get $seconds)) (i64.const 1000000000)))
    (i64.store offset=32 (local.get $sub) (i64.const 0))
    (i64.store offset=40 (local.get $sub) (i64.const 0))
    (if (i32.or (call $poll_oneoff (local.get $sub) (local.get $event) (i32.const 1) (i32.const 16))
                (i32.load16_u offset=8 (local.get $event)))
      (then
        (call $print (i32.const 2) (global.get $CANNOT_WAIT))
        (call $proc_exit (i32.const 1)))))

  ;; ---------------------------------------------------------------- entry
  (func (export "_start")
    (local $cmd i32)
    (call $load_args)
    (if (i32.lt_u (global.get $argc) (i32.const 2))
      (then (call $print (i32.const 1) (global.get $GREETING)) (return)))
    (local.set $cmd (call $arg (i32.const 1)))
    (if (call $streq (local.get $cmd) (global.get $STDOUT)) (then (call $echo (i32.const 1)) (return)))
    (if (call $streq (local.get $cmd) (global.get $STDERR)) (then (call $echo (i32.const 2)) (return)))
    (if (call $streq (local.get $cmd) (global.get $ARGS)) (then (call $args) (return)))
    (if (call $streq (local.get $cmd) (global.get $ENV)) (then (call $env) (return)))
    (if (call $streq (local.get $cmd) (global.get $CAT)) (then (call $cat) (return)))
    (if (call $streq (local.get $cmd) (global.get $EXIT)) (then (call $exit) (return)))
    (if (call $streq (local.get $cmd) (global.get $ALLOC)) (then (call $alloc) (return)))
    (if (call $streq (local.get $cmd) (global.get $NOW)) (then (call $now) (return)))
    (if (call $streq (local.get $cmd) (global.get $SLEEP)) (then (call $sleep) (return)))
    (call $usage)))
