#!/usr/bin/env bash
# Runs the libFuzzer targets of tests/fuzz/ (built in the ASan folder by
# `make fuzz`), each for SECONDS on a scratch copy of its seed corpus
# (tests/fuzz/corpus/<name>/, never written to), and prints per target the
# executions, exec/s, coverage (cov/ft) and corpus size. Fails when any
# target finds a crash, a failed check, a leak or a timeout; its input is
# kept under BUILD_DIR/fuzz/artifacts/<name>/ (add it to the seeds once fixed).
# FUZZ_JOBS targets run at a time (default: nproc).
#   scripts/fuzz.sh BUILD_DIR SECONDS [TARGET...]   (default: every *_fuzz)
set -uo pipefail
cd "$(dirname "$0")/.."

build_dir=${1:?usage: scripts/fuzz.sh BUILD_DIR SECONDS [TARGET...]}
seconds=${2:?usage: scripts/fuzz.sh BUILD_DIR SECONDS [TARGET...]}
shift 2
bin_dir="$build_dir/fuzz"
if (($#)); then
  targets=("$@")
else
  mapfile -t targets < <(find "$bin_dir" -maxdepth 1 -name '*_fuzz' -type f -executable -printf '%f\n' | sort)
fi
if ((${#targets[@]} == 0)); then
  echo "fuzz: no targets in $bin_dir (build them with: make fuzz)" >&2
  exit 1
fi

scratch=$(mktemp -d /tmp/adam-fuzz.XXXXXX)
trap 'rm -rf "$scratch"' EXIT

# One target: its line of the summary into $scratch/<name>.line, and a
# .failed file beside it when it failed.
fuzz_one() {
  local target=$1 name=${1%_fuzz}
  local bin="$bin_dir/$target"
  if [[ ! -x "$bin" ]]; then
    echo "fuzz: $bin is missing" >&2
    printf '%-16s MISSING\n' "$name" >"$scratch/$name.line"
    : >"$scratch/$name.failed"
    return
  fi
  local corpus="$scratch/$name"
  mkdir -p "$corpus"
  [[ -d tests/fuzz/corpus/$name ]] && cp -r "tests/fuzz/corpus/$name/." "$corpus/"
  local artifacts="$build_dir/fuzz/artifacts/$name"
  mkdir -p "$artifacts"
  local args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1
              -artifact_prefix="$artifacts/")
  [[ -f tests/fuzz/$name.dict ]] && args+=(-dict="tests/fuzz/$name.dict")
  local log="$build_dir/fuzz/$name.log"
  echo "fuzz: $name for ${seconds}s (log: $log)"
  "$bin" "${args[@]}" "$corpus" >"$log" 2>&1
  local status=$?
  # The last status line ("#N DONE cov: C ft: F corp: K/..."), the final stats.
  local last execs rate cov ft corp line
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
  corp=$(sed -nE 's/.* corp: ([0-9]+\/[0-9]+[a-zA-Z]*).*/\1/p' <<<"$last")
  line=$(printf '%-16s execs %-10s exec/s %-7s cov %-6s ft %-7s corpus %s' "$name" "${execs:-?}" \
    "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}")
  if ((status != 0)); then
    line+="  FAILED (exit $status)"
    {
      echo "fuzz: $name failed; the report:"
      grep -E -A30 'ERROR: |FUZZ_CHECK failed|runtime error|==ERROR' "$log" | head -60
      ls "$artifacts"
    } >"$scratch/$name.failed"
  fi
  echo "$line" >"$scratch/$name.line"
  echo "$line"
}

# Each target is one process on one core: FUZZ_JOBS of them at a time
# (default: the machine's cores). Each has its own scratch corpus, logs and
# artifacts; the packet-path targets their own namespaces and bpffs.
parallel=${FUZZ_JOBS:-$(nproc)}
for target in "${targets[@]}"; do
  while (($(jobs -rp | wc -l) >= parallel)); do wait -n; done
  fuzz_one "$target" &
done
wait

echo
echo "fuzz summary (${seconds}s each, $parallel at a time):"
failed=()
for target in "${targets[@]}"; do
  name=${target%_fuzz}
  printf '  %s\n' "$(cat "$scratch/$name.line" 2>/dev/null || echo "$name: no result")"
  if [[ -f "$scratch/$name.failed" || ! -f "$scratch/$name.line" ]]; then
    failed+=("$name")
    [[ -s "$scratch/$name.failed" ]] && cat "$scratch/$name.failed" >&2
  fi
done
if ((${#failed[@]})); then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi
