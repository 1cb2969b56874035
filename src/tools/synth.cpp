#include "tools/synth.h"

#include <glog/logging.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <vector>

#include "data/keyed_random.h"
#include "runtime/error.h"
#include "tools/dataset_writer.h"

namespace missrec::tools {

using namespace missrec::data;  // NOLINT: this tool works on data's types

namespace {

struct DomainPlan {
  std::string name;
  int64_t items;
  int64_t users;
  bool downstream;  // leave-one-out train/valid/test instead of all prefixes in train
};

// Latent interest centres, shared by every domain of every dataset of one seed: what
// makes pretraining transferable to the downstream domain.
struct Interests {
  std::vector<std::vector<float>> text;
  std::vector<std::vector<float>> image;
};

Interests make_interests(int64_t count, int64_t dim, uint64_t seed) {
  Rng rng(keyed_hash(seed, 0x1a7e));
  Interests interests;
  const double scale = 1.0 / std::sqrt(static_cast<double>(dim));
  for (int64_t g = 0; g < count; ++g) {
    std::vector<float> text(dim);
    std::vector<float> image(dim);
    for (auto& v : text) v = static_cast<float>(rng.normal() * scale);
    for (auto& v : image) v = static_cast<float>(rng.normal() * scale);
    interests.text.push_back(std::move(text));
    interests.image.push_back(std::move(image));
  }
  return interests;
}

void normalise(float* row, int64_t dim) {
  double norm = 0.0;
  for (int64_t j = 0; j < dim; ++j) norm += static_cast<double>(row[j]) * row[j];
  norm = std::sqrt(norm);
  if (norm <= 0.0) return;
  for (int64_t j = 0; j < dim; ++j) row[j] = static_cast<float>(row[j] / norm);
}

// Sampling items of one interest with Zipf(1) popularity.
struct InterestItems {
  std::vector<int32_t> items;
  std::vector<double> cumulative;

  int32_t draw(Rng& rng) const {
    const double u = rng.uniform() * cumulative.back();
    const size_t at = std::upper_bound(cumulative.begin(), cumulative.end(), u) - cumulative.begin();
    return items[std::min(at, items.size() - 1)];
  }
};

// One item's features: its interest's text and image direction plus noise, the word-drop
// text near its text; a missing modality is all zeros.
void make_item_features(const Interests& interests, int64_t g, int64_t dim, Rng& rng, float* text, float* aug,
                        float* image) {
  const double noise = 0.7 / std::sqrt(static_cast<double>(dim));
  const bool text_missing = rng.uniform() < 0.02;
  const bool image_missing = rng.uniform() < 0.30;
  for (int64_t j = 0; j < dim; ++j) {
    text[j] = static_cast<float>(interests.text[g][j] + noise * rng.normal());
    image[j] = static_cast<float>(interests.image[g][j] + 1.2 * noise * rng.normal());
  }
  normalise(text, dim);
  normalise(image, dim);
  for (int64_t j = 0; j < dim; ++j) aug[j] = static_cast<float>(text[j] + 0.5 * noise * rng.normal());
  normalise(aug, dim);
  if (text_missing) {
    std::fill(text, text + dim, 0.0f);
    std::fill(aug, aug + dim, 0.0f);
  }
  if (image_missing) std::fill(image, image + dim, 0.0f);
}

// The domain's items and their features; returns the items of each interest.
std::vector<InterestItems> make_items(const DomainPlan& plan, int domain_index, const Interests& interests, int64_t dim,
                                      Rng& rng, DomainContent& domain) {
  const int64_t groups = static_cast<int64_t>(interests.text.size());
  domain.text.assign(plan.items * dim, 0.0f);
  domain.text_aug.assign(plan.items * dim, 0.0f);
  domain.image.assign(plan.items * dim, 0.0f);
  std::vector<InterestItems> by_interest(groups);
  for (int64_t i = 0; i < plan.items; ++i) {
    // Each domain leans towards its own fifth of the interests.
    const int64_t g = rng.uniform() < 0.5
                          ? (domain_index + 5 * static_cast<int64_t>(rng.below((groups + 4) / 5))) % groups
                          : static_cast<int64_t>(rng.below(groups));
    by_interest[g].items.push_back(static_cast<int32_t>(i));
    make_item_features(interests, g, dim, rng, &domain.text[i * dim], &domain.text_aug[i * dim],
                       &domain.image[i * dim]);
    domain.tokens.push_back(plan.name + "_" + std::to_string(i));
  }
  return by_interest;
}

// Shuffles each interest's items into a Zipf-like popularity order; returns the interests
// that have items.
std::vector<int64_t> popularity_pools(std::vector<InterestItems>& by_interest, Rng& rng) {
  std::vector<int64_t> live;
  for (int64_t g = 0; g < static_cast<int64_t>(by_interest.size()); ++g) {
    InterestItems& pool = by_interest[g];
    if (pool.items.empty()) continue;
    live.push_back(g);
    shuffle(pool.items, rng);
    double total = 0.0;
    for (size_t r = 0; r < pool.items.size(); ++r) {
      total += 1.0 / static_cast<double>(r + 1);
      pool.cumulative.push_back(total);
    }
  }
  CHECK(!live.empty());
  return live;
}

// One user's item sequence: a few tastes, each step staying with the last interest,
// moving to another taste or wandering.
void user_sequence(const std::vector<InterestItems>& by_interest, const std::vector<int64_t>& live, Rng& rng,
                   std::vector<int32_t>& sequence) {
  const int taste_count = 1 + static_cast<int>(rng.uniform() < 0.6) + static_cast<int>(rng.uniform() < 0.3);
  std::vector<int64_t> tastes;
  for (int t = 0; t < taste_count; ++t) tastes.push_back(live[rng.below(live.size())]);
  const double log_length = std::log(8.5) + 0.7 * rng.normal();
  const int64_t length = std::clamp<int64_t>(std::lround(std::exp(log_length)), 4, 80);
  sequence.clear();
  int64_t previous = tastes[0];
  for (int64_t t = 0; t < length; ++t) {
    int64_t g;
    const double pick = rng.uniform();
    if (pick < 0.4) {
      g = previous;
    } else if (pick < 0.85) {
      g = tastes[rng.below(tastes.size())];
    } else {
      g = live[rng.below(live.size())];
    }
    if (by_interest[g].items.empty()) g = tastes[0];
    int32_t item = by_interest[g].draw(rng);
    if (!sequence.empty() && item == sequence.back()) item = by_interest[g].draw(rng);
    sequence.push_back(item);
    previous = g;
  }
}

DomainContent make_domain(const DomainPlan& plan, int domain_index, const Interests& interests,
                          const SynthOptions& options, std::vector<int64_t>* history_lengths) {
  Rng rng(keyed_hash(options.seed, 0xd0a1, static_cast<uint64_t>(domain_index)));
  DomainContent domain;
  domain.name = plan.name;
  domain.n_items = plan.items;
  std::vector<InterestItems> by_interest = make_items(plan, domain_index, interests, options.feature_dim, rng, domain);
  const std::vector<int64_t> live = popularity_pools(by_interest, rng);
  SampleTable& train = domain.splits["train"];
  SampleTable* valid = plan.downstream ? &domain.splits["valid"] : nullptr;
  SampleTable* test = plan.downstream ? &domain.splits["test"] : nullptr;
  std::vector<int32_t> sequence;
  for (int64_t u = 0; u < plan.users; ++u) {
    user_sequence(by_interest, live, rng, sequence);
    const int64_t length = static_cast<int64_t>(sequence.size());
    const int64_t train_end = plan.downstream ? length - 2 : length;  // exclusive target end
    for (int64_t t = 1; t < train_end; ++t) {
      const int64_t start = std::max<int64_t>(0, t - options.max_seq_len);
      train.add(sequence.data() + start, t - start, sequence[t], static_cast<int32_t>(u));
      history_lengths->push_back(t - start);
    }
    if (plan.downstream) {
      for (auto [table, t] : {std::pair{valid, length - 2}, std::pair{test, length - 1}}) {
        const int64_t start = std::max<int64_t>(0, t - options.max_seq_len);
        table->add(sequence.data() + start, t - start, sequence[t], static_cast<int32_t>(u));
      }
    }
  }
  return domain;
}

std::vector<DomainPlan> pretrain_domains(double scale) {
  auto n = [scale](int64_t base) { return std::max<int64_t>(8, std::llround(base * scale)); };
  return {{"Food", n(3000), n(1500), false},
          {"Home", n(2500), n(1250), false},
          {"CDs", n(2000), n(1000), false},
          {"Kindle", n(1500), n(750), false},
          {"Movies", n(1000), n(500), false}};
}

std::vector<DomainPlan> downstream_domains(double scale) {
  auto n = [scale](int64_t base) { return std::max<int64_t>(8, std::llround(base * scale)); };
  return {{"Scientific", n(1500), n(1200), true}};
}

void write(const std::vector<DomainPlan>& plans, int first_index, const Interests& interests,
           const SynthOptions& options, const std::string& dir, SynthReport* report, std::vector<int64_t>* lengths) {
  DatasetWriter writer(dir, options.feature_dim, options.feature_dim);
  for (size_t d = 0; d < plans.size(); ++d) {
    const DomainContent domain = make_domain(plans[d], first_index + static_cast<int>(d), interests, options, lengths);
    // The largest pretraining domain is written as two shards to exercise that layout.
    const int shards = (d == 0 && !plans[d].downstream) ? 2 : 1;
    writer.add_domain(domain, shards, options.half_features);
    report->domains += 1;
    report->items += domain.n_items;
    for (const auto& [split, table] : domain.splits) report->samples += table.size();
  }
  writer.commit();
}

}  // namespace

SynthReport synthesize(const SynthOptions& options, const std::string& out) {
  if (options.preset != "demo" && options.preset != "pretrain" && options.preset != "downstream") {
    runtime::throw_input_error("--preset", "expected demo, pretrain or downstream, got '" + options.preset + "'");
  }
  if (!(options.scale > 0.0 && options.scale <= 1000.0)) {
    runtime::throw_input_error("--scale", "expected a number in (0, 1000]");
  }
  if (options.feature_dim < 1 || options.feature_dim > 8192) {
    runtime::throw_input_error("--feature-dim", "expected 1..8192");
  }
  if (options.interests < 1 || options.interests > 100000) {
    runtime::throw_input_error("--interests", "expected 1..100000");
  }
  if (std::filesystem::exists(out)) {
    runtime::throw_input_error(out, "already exists; choose a new output directory");
  }
  const Interests interests = make_interests(options.interests, options.feature_dim, options.seed);
  SynthReport report;
  std::vector<int64_t> lengths;
  if (options.preset == "demo") {
    std::filesystem::create_directories(out);
    try {
      write(pretrain_domains(options.scale), 0, interests, options, out + "/pretrain", &report, &lengths);
      write(downstream_domains(options.scale), 5, interests, options, out + "/downstream", &report, &lengths);
    } catch (...) {
      remove_tree(out);
      throw;
    }
  } else if (options.preset == "pretrain") {
    write(pretrain_domains(10.0 * options.scale), 0, interests, options, out, &report, &lengths);
  } else {
    write(downstream_domains(4.0 * options.scale), 5, interests, options, out, &report, &lengths);
  }
  if (!lengths.empty()) {
    report.mean_history = std::accumulate(lengths.begin(), lengths.end(), 0.0) / static_cast<double>(lengths.size());
  }
  return report;
}

}  // namespace missrec::tools
