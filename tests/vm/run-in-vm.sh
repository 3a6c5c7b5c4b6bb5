#!/usr/bin/env bash
# Runs one command inside a qemu VM booting Debian 12's kernel (linux-image-amd64,
# 6.1) with BPF LSM enabled (lsm=lockdown,capability,bpf), and exits with the
# command's exit status.
#
#   tests/vm/run-in-vm.sh [--timeout SECONDS] [--log FILE] [--systemd] [--] COMMAND [ARGS...]
#
# The guest sees this machine's root file system read-only (9p) under a tmpfs
# overlay, so COMMAND runs with the same paths, binaries and libraries as here
# (build/adamd, python3, ip, ...) and its writes vanish with the VM; it starts in
# the current directory, as root, with the guest's own /proc, /sys, /dev, /tmp,
# /run, cgroup2, bpffs, securityfs and tracefs, and no network but lo. With
# --systemd the guest boots systemd as PID 1 (a lean boot: the host's units
# masked but journald's) and COMMAND runs as a service of it, so it can
# install, start and stop units (ADAM_VM_INIT=systemd is in its environment).
# Its output is the serial console's, which this script prints (without the
# kernel's boot lines) and keeps in --log. The kernel package is fetched with
# `apt-get download` once and cached, extracted, in $ADAM_VM_DIR/kernel (never
# installed).
#
# Exit status: the command's; 77 when the VM cannot be had (no qemu, no
# busybox-static, the kernel package cannot be downloaded: the reason is
# printed as "skipped: ..."); 124 when the VM did not finish in time; 125 when
# it stopped without reporting the command's status.
#
# Environment: ADAM_VM_DIR (cache and scratch; default <source>/build/vm),
# ADAM_VM_KERNEL_DEB (a linux-image .deb to use instead of downloading one),
# ADAM_VM_ACCEL (qemu accelerator, default tcg: /dev/kvm inside a VM is often
# present but unusably slow), ADAM_VM_MEM (default 2G), ADAM_VM_SMP (default 2).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
source_dir=$(cd "$here/../.." && pwd)
vm_dir=${ADAM_VM_DIR:-$source_dir/build/vm}
timeout_s=300
log=""
init=busybox

while (($#)); do
  case $1 in
    --timeout) timeout_s=$2; shift 2 ;;
    --log) log=$2; shift 2 ;;
    --systemd) init=systemd; shift ;;
    --) shift; break ;;
    -*) echo "run-in-vm: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
if (($# == 0)); then
  echo "usage: run-in-vm.sh [--timeout SECONDS] [--log FILE] [--systemd] [--] COMMAND [ARGS...]" >&2
  exit 2
fi

skip() {
  echo "skipped: $*"
  exit 77
}

command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)"
busybox=$(command -v busybox || true)
if [[ -z $busybox ]] || ldd "$busybox" >/dev/null 2>&1; then
  skip "no statically linked busybox (apt-get install busybox-static)"
fi
[[ $init != systemd || -x /lib/systemd/systemd ]] || skip "no /lib/systemd/systemd to boot with --systemd (apt-get install systemd)"
command -v cpio >/dev/null || skip "cpio is not installed (apt-get install cpio)"
command -v xz >/dev/null || skip "xz is not installed (apt-get install xz-utils)"
mkdir -p "$vm_dir"
vm_dir=$(cd "$vm_dir" && pwd)
scratch_dirs=()
trap 'rm -rf "${scratch_dirs[@]}"' EXIT
# One fetch and one initramfs build at a time per cache (runs may share one).
exec {lock_fd}>"$vm_dir/.lock"
flock "$lock_fd"

# The kernel: linux-image-amd64 resolved to the image package it depends on
# (linux-image-6.1.0-NN-amd64), extracted with its modules; busybox's depmod
# writes the modules.dep and modules.alias that an installed package would get
# from its postinst, so the guest's modprobe (and the kernel's own module
# requests: veth, nf_tables, ...) find them.
kernel_dir=$vm_dir/kernel
fetch_kernel() {
  local deb=${ADAM_VM_KERNEL_DEB:-}
  local scratch
  scratch=$(mktemp -d "$vm_dir/fetch.XXXXXX")
  scratch_dirs+=("$scratch")
  if [[ -z $deb ]]; then
    local meta=linux-image-amd64 pkg out
    pkg=$(apt-cache depends "$meta" 2>/dev/null |
      awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
    [[ -n $pkg ]] || skip "cannot download $meta: apt-cache knows no image package it depends on (apt-get update?)"
    if ! out=$(cd "$scratch" && apt-get download "$pkg" 2>&1); then
      # apt's reason: the line under its first Err:, else its last line.
      local reason
      reason=$(grep -A1 -m1 '^Err:' <<<"$out" | sed -n '2s/^ *//p')
      skip "cannot download $meta ($pkg): ${reason:-$(tail -1 <<<"$out")}"
    fi
    deb=$(ls "$scratch"/*.deb)
  fi
  echo "run-in-vm: extracting $(basename "$deb")" >&2
  dpkg-deb -x "$deb" "$scratch/root"
  local vmlinuz
  vmlinuz=$(ls "$scratch"/root/boot/vmlinuz-*)
  local version=${vmlinuz##*/vmlinuz-}
  "$busybox" depmod -b "$scratch/root" "$version"
  rm -rf "$kernel_dir"
  mkdir -p "$kernel_dir"
  mv "$vmlinuz" "$kernel_dir/vmlinuz"
  # The ELF inside the bzImage, which qemu boots through its PVH entry: TCG
  # takes seconds to decompress a kernel.
  local xz_at
  xz_at=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$kernel_dir/vmlinuz" | head -1 | cut -d: -f1)
  tail -c +$((xz_at + 1)) "$kernel_dir/vmlinuz" | xz -dc >"$kernel_dir/vmlinux" 2>/dev/null || true
  [[ $(head -c 4 "$kernel_dir/vmlinux") == $'\x7fELF' ]] || skip "no xz-compressed ELF kernel in $(basename "$deb")"
  mv "$scratch/root/lib/modules/$version" "$kernel_dir/modules"
  cp "$scratch"/root/boot/config-* "$kernel_dir/config"
  echo "$version" >"$kernel_dir/version"
}
[[ -f $kernel_dir/version ]] || fetch_kernel
version=$(cat "$kernel_dir/version")

# Stage 1, the initramfs: busybox, the modules that reach the host's root
# (virtio PCI, 9p, overlayfs) and tests/vm/init.
initramfs=$vm_dir/initramfs.cpio
if [[ ! -f $initramfs || $here/init -nt $initramfs || $kernel_dir/version -nt $initramfs ]]; then
  staging=$(mktemp -d "$vm_dir/initramfs.XXXXXX")
  scratch_dirs+=("$staging")
  mkdir -p "$staging"/{bin,proc,sys,dev,lower,rw,newroot} "$staging/lib/modules/$version"
  cp "$busybox" "$staging/bin/busybox"
  cp "$here/init" "$staging/init"
  cp "$kernel_dir/modules/modules.dep" "$kernel_dir/modules/modules.alias" "$staging/lib/modules/$version/"
  for module in virtio_pci 9pnet_virtio 9p overlay; do
    for path in $(awk -v m="/$module.ko:" 'index($0, m) { sub(":", ""); print; exit }' \
      "$kernel_dir/modules/modules.dep"); do
      mkdir -p "$staging/lib/modules/$version/$(dirname "$path")"
      cp "$kernel_dir/modules/$path" "$staging/lib/modules/$version/$path"
    done
  done
  (cd "$staging" && find . | cpio -o -H newc --quiet >"$initramfs.tmp")
  mv "$initramfs.tmp" "$initramfs"
fi
flock -u "$lock_fd"

# What the guest runs: this directory and command, as one bash script the guest
# reads through the share.
run_dir=$(mktemp -d "$vm_dir/run.XXXXXX")
scratch_dirs+=("$run_dir")
{
  printf 'cd %q || exit 125\n' "$PWD"
  printf 'exec'
  printf ' %q' "$@"
  printf '\n'
} >"$run_dir/command.sh"
console=$run_dir/console.log

accel=${ADAM_VM_ACCEL:-tcg}
cpu=max
[[ $accel == kvm ]] && cpu=host
started=$(date +%s.%N)
set +e
timeout --kill-after=10 "$timeout_s" qemu-system-x86_64 \
  -nodefaults -no-user-config -display none -no-reboot \
  -accel "$accel" -cpu "$cpu" -m "${ADAM_VM_MEM:-2G}" -smp "${ADAM_VM_SMP:-2}" \
  -chardev stdio,id=console,signal=off -serial chardev:console \
  -fsdev local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap \
  -device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot \
  -kernel "$kernel_dir/vmlinux" -initrd "$initramfs" \
  -append "console=ttyS0 lsm=lockdown,capability,bpf panic=-1 quiet loglevel=4 audit=0 mitigations=off \
adam_vm.run=$run_dir/command.sh adam_vm.modules=$kernel_dir/modules adam_vm.init=$init" \
  </dev/null 2>&1 | tr -d '\r' | tee "$console" |
  sed -u -n '/^ADAM-VM-READY/,$p' | grep --line-buffered -v -e '^ADAM-VM-EXIT ' -e '\] reboot: Power down$'
qemu_status=${PIPESTATUS[0]}
set -e
elapsed=$(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
[[ -n $log ]] && cp "$console" "$log"

if ((qemu_status == 124 || qemu_status == 137)); then
  echo "run-in-vm: the VM did not finish within ${timeout_s} s; its console:" >&2
  tail -n 40 "$console" >&2
  exit 124
fi
exit_line=$(grep -a '^ADAM-VM-EXIT ' "$console" | tail -1 || true)
if [[ -z $exit_line ]]; then
  echo "run-in-vm: the VM stopped (qemu status $qemu_status) without reporting the command's status; its console:" >&2
  tail -n 40 "$console" >&2
  exit 125
fi
ready=$(grep -a '^ADAM-VM-READY ' "$console" | awk '{ print $2 }')
echo "run-in-vm: kernel $version (accel $accel): guest ready after ${ready} s of guest uptime, ${elapsed} s in all" >&2
exit "${exit_line#ADAM-VM-EXIT }"
