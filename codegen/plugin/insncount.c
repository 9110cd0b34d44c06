/*
 * symctl QEMU TCG plugin: exact count of guest instructions executed between two marker addresses.
 *
 * Arguments: begin=<hex address>, end=<hex address>, out=<file>. Every instruction increments an
 * inline counter; when the instruction at `begin` executes the counter is snapshotted, and when the
 * one at `end` executes the difference is recorded. At exit the recorded intervals are written to
 * `out`, one count per line. Built by symctl itself (gcc -shared -fPIC); it declares the few
 * functions of the QEMU plugin API (version 1, QEMU 7.x) it needs, so no QEMU headers are required.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
struct qemu_info_t;

enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };

typedef void (*tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
typedef void (*udata_cb_t)(qemu_plugin_id_t id, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, tb_trans_cb_t cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *insn, enum qemu_plugin_op op, void *ptr,
                                                uint64_t imm);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, udata_cb_t cb, void *userdata);

#define EXPORT __attribute__((visibility("default")))
#define MAX_INTERVALS 65536

EXPORT int qemu_plugin_version = 1;
EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const struct qemu_info_t *info, int argc, char **argv);

static uint64_t counter;
static uint64_t start;
static int open_interval;
static uint64_t begin_addr;
static uint64_t end_addr;
static char out_path[4096];
static uint64_t intervals[MAX_INTERVALS];
static size_t n_intervals;
static size_t n_dropped;

static void on_begin(unsigned int vcpu, void *udata)
{
    (void)vcpu;
    (void)udata;
    start = counter;
    open_interval = 1;
}

static void on_end(unsigned int vcpu, void *udata)
{
    (void)vcpu;
    (void)udata;
    if (!open_interval) {
        return;
    }
    open_interval = 0;
    if (n_intervals < MAX_INTERVALS) {
        intervals[n_intervals++] = counter - start;
    } else {
        n_dropped++;
    }
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    size_t n = qemu_plugin_tb_n_insns(tb);
    size_t i;
    (void)id;
    for (i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t pc = qemu_plugin_insn_vaddr(insn) & ~(uint64_t)1;
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &counter, 1);
        if (pc == begin_addr) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_begin, QEMU_PLUGIN_CB_NO_REGS, NULL);
        }
        if (pc == end_addr) {
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_end, QEMU_PLUGIN_CB_NO_REGS, NULL);
        }
    }
}

static void on_plugin_exit(qemu_plugin_id_t id, void *udata)
{
    FILE *f = fopen(out_path, "w");
    size_t i;
    (void)id;
    (void)udata;
    if (f == NULL) {
        return;
    }
    fprintf(f, "# total %" PRIu64 " intervals %zu dropped %zu\n", counter, n_intervals, n_dropped);
    for (i = 0; i < n_intervals; i++) {
        fprintf(f, "%" PRIu64 "\n", intervals[i]);
    }
    fclose(f);
}

int qemu_plugin_install(qemu_plugin_id_t id, const struct qemu_info_t *info, int argc, char **argv)
{
    int i;
    (void)info;
    for (i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "begin=", 6) == 0) {
            begin_addr = strtoull(a + 6, NULL, 0) & ~(uint64_t)1;
        } else if (strncmp(a, "end=", 4) == 0) {
            end_addr = strtoull(a + 4, NULL, 0) & ~(uint64_t)1;
        } else if (strncmp(a, "out=", 4) == 0) {
            strncpy(out_path, a + 4, sizeof(out_path) - 1);
        } else {
            fprintf(stderr, "insncount: unknown argument %s (use begin=, end=, out=)\n", a);
            return -1;
        }
    }
    if (begin_addr == 0 || end_addr == 0 || out_path[0] == '\0') {
        fprintf(stderr, "insncount: begin=, end= and out= are required\n");
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, on_plugin_exit, NULL);
    return 0;
}
