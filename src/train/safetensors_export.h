#pragma once

#include <string>

#include "train/export.h"

namespace missrec::train {

// The safetensors format (huggingface/safetensors): an 8-byte little-endian header
// length N, a JSON header of N bytes (padded with spaces to a multiple of 8) mapping each
// tensor name to {"dtype", "shape", "data_offsets": [begin, end)} within the byte buffer
// that follows, and "__metadata__" (string to string). The export's state_dict under the
// public implementation's names (F32), its interest tables as "interests.<table>" (F32
// embeddings, I64 maps), and metadata: format "missrec-export", config (YAML), epoch,
// global_step. I64 tensors come first in the buffer, so every tensor starts at a multiple
// of its element size.
// Written through a staged file and a rename.
void write_safetensors_export(const ModelExport& model, const std::string& path);

// Reads and checks such a file: the header length against the file, the JSON, each
// tensor's dtype (F32 or I64), shape and offsets, a buffer covered without holes or
// overlaps, the metadata. InputError naming the file and the field otherwise.
ModelExport read_safetensors_export(const std::string& path);

}  // namespace missrec::train
