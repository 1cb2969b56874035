#pragma once

#include <cstdint>
#include <string>

namespace missrec::tools {

// `missrec data convert --from-missrec SRC --out DST`: reads the public
// MISSRec/UniSRec release, either a downstream dataset (<ds>.{train,valid,test}.inter
// with 0-based item tokens, <ds>.feat1CLS/.feat3CLS, optional .feat2CLS) or a
// pretraining one (<ds>.pt_datasets listing the domains, "<d>-<i>" tokens,
// <Domain>.feat{1,2,3}CLS). Every row and item is kept. Malformed input throws
// InputError naming the file and line; the output appears only when complete.
struct ConvertOptions {
  std::string source;
  std::string out;
  std::string dataset;        // <ds>; empty: the only one found in source
  int64_t feature_dim = 512;  // D of the raw float32 feature files
};

struct ConvertReport {
  std::string layout;   // "downstream" or "pretraining"
  std::string summary;  // per-domain counts, one line each
};

ConvertReport convert_missrec(const ConvertOptions& options);

}  // namespace missrec::tools
