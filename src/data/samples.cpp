#include "data/samples.h"

namespace missrec::data {

void SampleTable::add(const int32_t* history, int64_t length, int32_t next_item, int32_t user_index) {
  items.insert(items.end(), history, history + length);
  offsets.push_back(static_cast<int64_t>(items.size()));
  target.push_back(next_item);
  if (user_index >= 0) user.push_back(user_index);
}

}  // namespace missrec::data
