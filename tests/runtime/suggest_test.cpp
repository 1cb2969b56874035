#include "runtime/suggest.h"

#include <gtest/gtest.h>

namespace missrec::runtime {
namespace {

TEST(Suggest, TranspositionCountsOnce) {
  EXPECT_EQ(closest_match("trian.lr", {"train.lr", "train.epochs"}), "train.lr");
}

TEST(Suggest, PicksTheNearest) {
  EXPECT_EQ(closest_match("--confg", {"--config", "--set"}), "--config");
  EXPECT_EQ(closest_match("model.hiden_size", {"model.hidden_size", "model.inner_size"}), "model.hidden_size");
}

TEST(Suggest, NothingWhenFar) {
  EXPECT_EQ(closest_match("xyz", {"train.lr", "model.dropout"}), "");
  EXPECT_EQ(did_you_mean("xyz", {"train.lr"}), "");
  EXPECT_EQ(did_you_mean("trian", {"train"}), " (did you mean 'train'?)");
}

}  // namespace
}  // namespace missrec::runtime
