# bench-native's /bench: edgewasm/bench.wat's behaviour for runc, run by Debian's static
# busybox (the image's entrypoint is `/bin/busybox sh /bench`, so a pod's args are this
# script's). Subcommands, output and exit status as in bench.wat's header: only busybox's
# ash and its applets (Debian's busybox-static runs applets by name, PATH or not).
greeting='Hello from edgewasm: WebAssembly is up.'  # hello-wasm's, as bench-wasm prints it

usage() {
    printf '%s\n' 'usage: bench [stdout TEXT.. | stderr TEXT.. | args ARG.. | env NAME | cat PATH | exit N | alloc MIB | now | sleep SECONDS]' >&2
    exit 2
}

# Exactly one argument after the subcommand.
one_arg() {
    [ "$1" -eq 1 ] || usage
}

# A count: 1 to 9 decimal digits, no sign, no leading zero (bench.wat's $number).
number() {
    case $1 in
        0 | [1-9] | [1-9]*[0-9]) ;;
        *) usage ;;
    esac
    case $1 in
        *[!0-9]* | ??????????*) usage ;;
    esac
}

if [ $# -eq 0 ]; then
    printf '%s\n' "$greeting"
    exit 0
fi
cmd=$1
shift
case $cmd in
    stdout)
        printf '%s\n' "$*" ;;
    stderr)
        printf '%s\n' "$*" >&2 ;;
    args)
        for arg in "$@"; do
            printf '%s\n' "$arg"
        done ;;
    env)
        one_arg $#
        # The environment the container was started with, as the kernel holds it: the
        # shell's own variables would not do (ash exports SHLVL and PWD, and has others).
        # The name is matched as a literal string, never as a pattern.
        tr '\0' '\n' < "/proc/$$/environ" | {
            while IFS= read -r entry; do
                case $entry in
                    "$1="*) printf '%s\n' "${entry#"$1="}"; exit 0 ;;
                esac
            done
            exit 1
        }
        exit $? ;;
    cat)
        one_arg $#
        cat -- "$1" 2>/dev/null || { printf 'cat: cannot read %s\n' "$1" >&2; exit 1; } ;;
    exit)
        one_arg $#
        number "$1"
        [ "$1" -le 125 ] || usage  # bench.wat's range: Wasmtime refuses 126 and up
        exit "$1" ;;
    alloc)
        one_arg $#
        number "$1"
        # dd reads MIB MiB of /dev/zero into ONE buffer of that size (iflag=fullblock: as
        # many reads as it takes), so the kernel writes every page of it: the process
        # really holds MIB MiB of anonymous memory, charged to the container's memory
        # cgroup, where a lower limit OOM-kills it. A stream (dd | ..., head -c N >
        # /dev/null) passes the bytes through a small buffer and holds nothing; a file in
        # the container's filesystem is page cache, which the kernel reclaims instead.
        if [ "$1" -gt 0 ]; then
            out=$(dd if=/dev/zero of=/dev/null bs="$1"M count=1 iflag=fullblock 2>&1)
            status=$?
            # Killed (the OOM killer's SIGKILL): end the same way, as the Wasm runtime does.
            [ "$status" -gt 128 ] && exit "$status"
            case $out in
                "1+0 records in"*) ;;
                *) printf 'alloc: cannot hold %s MiB\n' "$1" >&2; exit 1 ;;
            esac
        fi
        printf 'allocated %s MiB\n' "$1" ;;
    now)
        # busybox date has no %N (Debian's prints "%N" as it is); ts stamps a line from one
        # gettimeofday: %s the seconds, %.S "SS.uuuuuu". So ns, to the microsecond.
        set -- $(echo | ts '%s %.S')
        printf '%s%s000\n' "$1" "${2#*.}" ;;
    sleep)
        one_arg $#
        number "$1"
        # busybox's sleep in the shell's place: the container's one process while it
        # waits (its memory is what the bench measures at rest), as the Wasm side is one.
        exec sleep "$1" ;;
    *)
        usage ;;
esac
