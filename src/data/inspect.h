#pragma once

#include <string>

namespace missrec::data {

// `missrec data inspect DIR`: validates the whole dataset (structure, samples and
// every feature value) and returns a human-readable summary: per domain items,
// samples per split, missing text/image rates, history-length histogram, file sizes.
std::string inspect_dataset(const std::string& dir);

}  // namespace missrec::data
