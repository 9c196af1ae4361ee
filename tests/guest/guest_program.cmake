# Cross-compiling bare-metal RISC-V guest programs (tests/guest and
# bench/). Include this file, then check TANDEM_RISCV_GCC: it is empty when
# Debian's riscv64-linux-gnu-gcc is not installed. Included once per
# directory that uses it (the variables are directory-scoped).

find_program(TANDEM_RISCV_GCC riscv64-linux-gnu-gcc)
set(TANDEM_GUEST_RUNTIME_DIR ${CMAKE_CURRENT_LIST_DIR}/runtime)
# The runtime (crt0.S: stack, trap entry, .bss; rt.c: console, exit,
# trap dispatch) is linked into every program at 0x80000000.
set(TANDEM_GUEST_CFLAGS
    -march=rv64gc -mabi=lp64d -mcmodel=medany -nostdlib -static -no-pie -fno-pic
    -ffreestanding -fno-builtin -fno-tree-loop-distribute-patterns -fno-stack-protector
    -fno-asynchronous-unwind-tables -O2 -g -Wall -Wextra -Werror
    -I${TANDEM_GUEST_RUNTIME_DIR} -T ${TANDEM_GUEST_RUNTIME_DIR}/link.ld
    -Wl,--build-id=none -Wl,--no-warn-rwx-segments)
set(TANDEM_GUEST_RUNTIME ${TANDEM_GUEST_RUNTIME_DIR}/crt0.S ${TANDEM_GUEST_RUNTIME_DIR}/rt.c)
file(GLOB TANDEM_GUEST_RUNTIME_DEPS CONFIGURE_DEPENDS ${TANDEM_GUEST_RUNTIME_DIR}/*)

# tandem_guest_elf(OUT <elf> SOURCES <files...> [DEPENDS <files...>]
#                  [FLAGS <extra compiler flags...>])
function(tandem_guest_elf)
  cmake_parse_arguments(G "" "OUT" "SOURCES;DEPENDS;FLAGS" ${ARGN})
  get_filename_component(name ${G_OUT} NAME)
  add_custom_command(
    OUTPUT ${G_OUT}
    COMMAND ${TANDEM_RISCV_GCC} ${TANDEM_GUEST_CFLAGS} ${G_FLAGS} -o ${G_OUT}
            ${TANDEM_GUEST_RUNTIME} ${G_SOURCES}
    DEPENDS ${G_SOURCES} ${G_DEPENDS} ${TANDEM_GUEST_RUNTIME_DEPS}
    COMMENT "Building guest program ${name}"
    VERBATIM)
endfunction()
