#pragma once

#include <cstddef>
#include <cstdint>

namespace missrec::runtime {

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as TFRecord framing and
// TensorBoard's readers check it. crc32c("123456789") == 0xE3069283.
uint32_t crc32c(const void* data, size_t bytes);

// The masked form TFRecord stores: ((crc >> 15) | (crc << 17)) + 0xA282EAD8.
uint32_t masked_crc32c(const void* data, size_t bytes);

}  // namespace missrec::runtime
