// A hostile virtio-blk driver (issue 15, item 1): its one request reads a
// sector into a device-writable buffer laid over its own available ring,
// so every completion posts the next request, forever. The disk (made by
// rearming_ring.py) holds sector s = idx s + 2 and a header asking for
// sector s + 1 (mod 65536, as avail.idx wraps). tandem must return from
// the notify after a bounded batch and keep serving the ring at slice
// boundaries while the guest runs. The guest reports the requests the
// device completed; on a 'q' from the console it waits for 65,536 more
// (the device still works: after a restore too) and exits.
//
// Not a differential test: QEMU 7.2 serves such a ring inside one notify.
#include "rt.h"

#define VIRTIO0 0x10001000ul
#define VIRTIO_MAGIC 0x000
#define VIRTIO_VERSION 0x004
#define VIRTIO_DEVICE_ID 0x008
#define VIRTIO_DRIVER_FEATURES 0x020
#define VIRTIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_QUEUE_SEL 0x030
#define VIRTIO_QUEUE_NUM 0x038
#define VIRTIO_QUEUE_READY 0x044
#define VIRTIO_QUEUE_NOTIFY 0x050
#define VIRTIO_STATUS 0x070
#define VIRTIO_QUEUE_DESC_LOW 0x080
#define VIRTIO_QUEUE_DESC_HIGH 0x084
#define VIRTIO_QUEUE_DRIVER_LOW 0x090
#define VIRTIO_QUEUE_DRIVER_HIGH 0x094
#define VIRTIO_QUEUE_DEVICE_LOW 0x0a0
#define VIRTIO_QUEUE_DEVICE_HIGH 0x0a4
#define STATUS_ACK 1
#define STATUS_DRIVER 2
#define STATUS_DRIVER_OK 4
#define STATUS_FEATURES_OK 8
#define STATUS_NEEDS_RESET 0x40
#define DESC_F_NEXT 1
#define DESC_F_WRITE 2

#define QUEUE_SIZE 8
#define WINDOW_LEN 512
#define HEADER_IN_WINDOW 254  // the header sits at avail + 256

struct virtq_desc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};

// Descriptor table, available ring and used ring a page apart; the
// 512-byte window from avail.idx stays inside the available ring's page.
static uint8_t rings[3 * 4096] __attribute__((aligned(4096)));
static volatile uint8_t status_byte;

static void reg_write(unsigned off, uint32_t v) { mmio_write32(VIRTIO0 + off, v); }
static uint32_t reg_read(unsigned off) { return mmio_read32(VIRTIO0 + off); }

static int console_has(char want) {
  if (!(*(volatile uint8_t*)(UART_BASE + 5) & 1)) return 0;  // LSR.DR
  return *(volatile uint8_t*)UART_BASE == want;
}

int main(void) {
  if (reg_read(VIRTIO_MAGIC) != 0x74726976 || reg_read(VIRTIO_VERSION) != 2 || reg_read(VIRTIO_DEVICE_ID) != 2) {
    printf("no virtio-blk at %lx\n", VIRTIO0);
    return 1;
  }
  reg_write(VIRTIO_STATUS, 0);
  reg_write(VIRTIO_STATUS, STATUS_ACK | STATUS_DRIVER);
  reg_write(VIRTIO_DRIVER_FEATURES_SEL, 1);
  reg_write(VIRTIO_DRIVER_FEATURES, 1);  // VERSION_1 only: no EVENT_IDX
  reg_write(VIRTIO_DRIVER_FEATURES_SEL, 0);
  reg_write(VIRTIO_DRIVER_FEATURES, 0);
  reg_write(VIRTIO_STATUS, STATUS_ACK | STATUS_DRIVER | STATUS_FEATURES_OK);
  if (!(reg_read(VIRTIO_STATUS) & STATUS_FEATURES_OK)) {
    printf("FEATURES_OK refused\n");
    return 1;
  }
  uint64_t desc = (uint64_t)rings, avail = desc + 4096, used = desc + 8192;
  reg_write(VIRTIO_QUEUE_SEL, 0);
  reg_write(VIRTIO_QUEUE_NUM, QUEUE_SIZE);
  reg_write(VIRTIO_QUEUE_DESC_LOW, (uint32_t)desc);
  reg_write(VIRTIO_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
  reg_write(VIRTIO_QUEUE_DRIVER_LOW, (uint32_t)avail);
  reg_write(VIRTIO_QUEUE_DRIVER_HIGH, (uint32_t)(avail >> 32));
  reg_write(VIRTIO_QUEUE_DEVICE_LOW, (uint32_t)used);
  reg_write(VIRTIO_QUEUE_DEVICE_HIGH, (uint32_t)(used >> 32));
  reg_write(VIRTIO_QUEUE_READY, 1);
  reg_write(VIRTIO_STATUS, STATUS_ACK | STATUS_DRIVER | STATUS_FEATURES_OK | STATUS_DRIVER_OK);

  // The chain: header (in the window), the window, the status byte.
  uint64_t header = avail + 2 + HEADER_IN_WINDOW;
  volatile struct virtq_desc* d = (volatile struct virtq_desc*)desc;
  d[0] = (struct virtq_desc){header, 16, DESC_F_NEXT, 1};
  d[1] = (struct virtq_desc){avail + 2, WINDOW_LEN, DESC_F_WRITE | DESC_F_NEXT, 2};
  d[2] = (struct virtq_desc){(uint64_t)&status_byte, 1, DESC_F_WRITE, 0};
  *(volatile uint32_t*)header = 0;         // VIRTIO_BLK_T_IN
  *(volatile uint64_t*)(header + 8) = 0;   // sector 0
  volatile uint16_t* avail_ring = (volatile uint16_t*)avail;
  avail_ring[2] = 0;  // ring[0]: head 0
  asm volatile("fence w, w" ::: "memory");
  avail_ring[1] = 1;  // idx
  asm volatile("fence w, o" ::: "memory");
  reg_write(VIRTIO_QUEUE_NOTIFY, 0);

  volatile uint16_t* used_idx = (volatile uint16_t*)(used + 2);
  uint16_t last = *used_idx;
  uint64_t total = last;
  printf("notify returned after %lu requests\n", total);
  *(volatile uint8_t*)(UART_BASE + 1) = 1;  // IER.ERBFI: the host feeds console input

  uint64_t next_report = 65536, stop_at = 0;
  for (;;) {
    uint16_t now = *used_idx;
    total += (uint16_t)(now - last);
    last = now;
    if (reg_read(VIRTIO_STATUS) & STATUS_NEEDS_RESET) {
      printf("device needs reset after %lu requests\n", total);
      return 1;
    }
    if (total >= next_report) {
      printf("progress: %lu requests\n", next_report);
      next_report += 65536;
    }
    if (!stop_at && console_has('q')) {
      stop_at = total + 65536;
      printf("stopping after %lu more requests\n", stop_at - total);
    }
    if (stop_at && total >= stop_at) {
      printf("done\n");
      return 0;
    }
  }
}
