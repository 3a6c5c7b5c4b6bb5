# Compiles eBPF C sources with clang (CO-RE, against a vmlinux.h generated from
# the build machine's BTF) and turns each object into a libbpf skeleton header
# with `bpftool gen skeleton`. One function for every BPF object of the tree.

find_program(BPF_CLANG NAMES clang clang-16 clang-15 clang-14)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin)
if(NOT BPF_CLANG)
  message(FATAL_ERROR "clang not found: it compiles bpf/*.bpf.c. Run scripts/install-deps.sh (apt-get install clang llvm).")
endif()
if(NOT BPFTOOL)
  message(FATAL_ERROR "bpftool not found: it generates vmlinux.h and the BPF skeletons. Run scripts/install-deps.sh (apt-get install bpftool).")
endif()

set(ADAM_BPF_OUT ${CMAKE_BINARY_DIR}/bpf)
file(MAKE_DIRECTORY ${ADAM_BPF_OUT})

if(NOT EXISTS /sys/kernel/btf/vmlinux)
  message(FATAL_ERROR "/sys/kernel/btf/vmlinux is missing: the kernel has no BTF, which CO-RE needs.")
endif()
add_custom_command(
  OUTPUT ${ADAM_BPF_OUT}/vmlinux.h
  COMMAND ${BPFTOOL} btf dump file /sys/kernel/btf/vmlinux format c > ${ADAM_BPF_OUT}/vmlinux.h.tmp
  COMMAND ${CMAKE_COMMAND} -E rename ${ADAM_BPF_OUT}/vmlinux.h.tmp ${ADAM_BPF_OUT}/vmlinux.h
  COMMENT "Generating vmlinux.h from the kernel's BTF"
  VERBATIM)
add_custom_target(adam_vmlinux_h DEPENDS ${ADAM_BPF_OUT}/vmlinux.h)

if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  set(ADAM_BPF_ARCH x86)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  set(ADAM_BPF_ARCH arm64)
else()
  set(ADAM_BPF_ARCH ${CMAKE_SYSTEM_PROCESSOR})
endif()

# adam_bpf_skeleton(<name> <source.bpf.c>) -> interface target adam_bpf_<name>
# (skeleton struct <name>_bpf, as in libbpf-bootstrap)
# whose include dir holds <name>.skel.h (and <name>.bpf.o beside it).
function(adam_bpf_skeleton name source)
  get_filename_component(src_abs ${source} ABSOLUTE)
  get_filename_component(src_dir ${src_abs} DIRECTORY)
  set(obj ${ADAM_BPF_OUT}/${name}.bpf.o)
  set(skel ${ADAM_BPF_OUT}/${name}.skel.h)
  # The headers BPF and C++ code share live in bpf/adam/ and are included by
  # that qualified name ("adam/xdp_chain.h"), the same on both sides: bpf/ is
  # on the include path of both.
  file(GLOB shared_headers ${CMAKE_SOURCE_DIR}/bpf/adam/*.h ${src_dir}/*.h)
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${BPF_CLANG} -g -O2 -target bpf -D__TARGET_ARCH_${ADAM_BPF_ARCH}
            -Wall -Werror -Wno-unused-function
            -I${ADAM_BPF_OUT} -I${CMAKE_SOURCE_DIR}/bpf -I${src_dir}
            -c ${src_abs} -o ${obj}.tmp
    # Strip DWARF but keep BTF: smaller objects embedded in the skeleton.
    COMMAND ${BPFTOOL} gen object ${obj} ${obj}.tmp
    COMMAND ${CMAKE_COMMAND} -E remove ${obj}.tmp
    # vmlinux.h through its target only: listing the generated file here would
    # make every BPF target regenerate it in parallel.
    DEPENDS ${src_abs} ${shared_headers} adam_vmlinux_h
    COMMENT "BPF ${name}: clang -target bpf"
    VERBATIM)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${BPFTOOL} gen skeleton ${obj} name ${name}_bpf > ${skel}.tmp
    COMMAND ${CMAKE_COMMAND} -E rename ${skel}.tmp ${skel}
    DEPENDS ${obj}
    COMMENT "BPF ${name}: bpftool gen skeleton"
    VERBATIM)
  add_custom_target(adam_bpf_${name}_gen DEPENDS ${skel})
  add_library(adam_bpf_${name} INTERFACE)
  add_dependencies(adam_bpf_${name} adam_bpf_${name}_gen)
  target_include_directories(adam_bpf_${name} INTERFACE ${ADAM_BPF_OUT} ${CMAKE_SOURCE_DIR}/bpf)
endfunction()
