#include "data/interest_state.h"

#include "data/h5_file.h"

namespace missrec::data {

InterestState InterestState::placed(at::Device device) const {
  InterestState out = *this;
  if (!defined()) return out;
  out.interest_embeddings = interest_embeddings.to(device, at::kFloat);
  out.text_interest = text_interest.to(at::kCPU);
  out.image_interest = image_interest.to(at::kCPU);
  return out;
}

void write_interests(H5File& file, const std::string& group, const InterestState& state) {
  if (!state.defined()) return;
  file.write_tensor(group + "/interest_embeddings", state.interest_embeddings.to(at::kCPU, at::kFloat).contiguous());
  file.write_tensor(group + "/text_interest", state.text_interest.to(at::kCPU).contiguous());
  file.write_tensor(group + "/image_interest", state.image_interest.to(at::kCPU).contiguous());
}

InterestState read_interests(const H5File& file, const std::string& group) {
  InterestState state;
  if (!file.exists(group)) return state;
  state.interest_embeddings = file.read_tensor(group + "/interest_embeddings");
  state.text_interest = file.read_tensor(group + "/text_interest");
  state.image_interest = file.read_tensor(group + "/image_interest");
  state.clusters = state.interest_embeddings.size(0) - 1;
  return state;
}

}  // namespace missrec::data
