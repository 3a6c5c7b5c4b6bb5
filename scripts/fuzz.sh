#!/usr/bin/env bash
# Runs the libFuzzer targets of tests/fuzz/ (built in the ASan folder by
# `make fuzz`), each for SECONDS on a scratch copy of its seed corpus
# (tests/fuzz/corpus/<name>/, never written to), and prints per target the
# executions, exec/s, coverage (cov/ft) and corpus size. Fails when any
# target finds a crash, a failed check, a leak or a timeout; its input is
# kept under BUILD_DIR/fuzz/artifacts/<name>/ (add it to the seeds once fixed).
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
summary=()
failed=()
for target in "${targets[@]}"; do
  name=${target%_fuzz}
  bin="$bin_dir/$target"
  [[ -x "$bin" ]] || { echo "fuzz: $bin is missing" >&2; failed+=("$name (missing)"); continue; }
  corpus="$scratch/$name"
  mkdir -p "$corpus"
  [[ -d tests/fuzz/corpus/$name ]] && cp -r "tests/fuzz/corpus/$name/." "$corpus/"
  artifacts="$build_dir/fuzz/artifacts/$name"
  mkdir -p "$artifacts"
  args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1
        -artifact_prefix="$artifacts/")
  [[ -f tests/fuzz/$name.dict ]] && args+=(-dict="tests/fuzz/$name.dict")
  log="$build_dir/fuzz/$name.log"
  echo "fuzz: $name for ${seconds}s (log: $log)"
  "$bin" "${args[@]}" "$corpus" >"$log" 2>&1
  status=$?
  # The last status line ("#N DONE cov: C ft: F corp: K/..."), the final stats.
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
  corp=$(sed -nE 's/.* corp: ([0-9]+\/[0-9]+[a-zA-Z]*).*/\1/p' <<<"$last")
  line=$(printf '%-16s execs %-10s exec/s %-7s cov %-6s ft %-7s corpus %s' "$name" "${execs:-?}" \
    "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}")
  if ((status != 0)); then
    failed+=("$name")
    line+="  FAILED (exit $status)"
    echo "fuzz: $name failed; the report:" >&2
    grep -E -A30 'ERROR: |FUZZ_CHECK failed|runtime error|==ERROR' "$log" | head -60 >&2
    ls "$artifacts" >&2
  fi
  summary+=("$line")
  echo "$line"
done

echo
echo "fuzz summary (${seconds}s each):"
printf '  %s\n' "${summary[@]}"
if ((${#failed[@]})); then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi
