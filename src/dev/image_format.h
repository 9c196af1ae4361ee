// Recognises disk image formats other than raw by their magic, so that a
// qcow2 (or vmdk, vdi, vhdx, vhd) file is not handed to the guest as raw
// bytes, where its first write would corrupt the image.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "base/result.h"
#include "dev/block_backend.h"

namespace tandem::dev {

// Bytes of the file's head that probe_image_format() looks at.
inline constexpr size_t kImageProbeBytes = 512;

// The qemu-img name of the format whose header starts `head` (the first
// up to kImageProbeBytes bytes of the file), or "" when none is known
// (the file is taken as raw).
std::string probe_image_format(const uint8_t* head, size_t len);

// Reads the head of the drive and refuses a known non-raw format with a
// message naming `qemu-img convert -O raw` and format=raw.
Status check_raw_image(BlockBackend& drive, const std::string& path);

}  // namespace tandem::dev
