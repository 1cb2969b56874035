// The epoch order is a uniform permutation of every sample of every domain: the batch
// composition the loader delivers (domains per batch, pairs of one user's samples per
// batch) matches what a uniformly random permutation gives, on data whose files keep
// each user's samples in one long run, as the public release does.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <numeric>
#include <random>

#include "data/loader.h"
#include "tools/dataset_writer.h"

namespace missrec::data {
namespace {

using tools::DatasetWriter;
using tools::DomainContent;

constexpr int64_t kBatch = 256;
constexpr int kEpochs = 3;
constexpr double kAcceptedZ = 4.0;  // standard errors

// Users per domain; one small domain so that "domains per batch" varies under a uniform
// order (a batch misses it about a quarter of the time).
const std::vector<int64_t> kUsersPerDomain = {700, 500, 350, 200, 7};

// Samples per user: its prefixes, 8..40 of them, stored next to each other.
struct Layout {
  std::string dir;
  std::vector<int64_t> domain_samples;        // per domain
  std::vector<int64_t> user_samples;          // per user
  std::map<int64_t, int64_t> user_of_target;  // global target id -> user
  int64_t total = 0;
};

Layout write_dataset() {
  Layout layout;
  layout.dir =
      (std::filesystem::temp_directory_path() / ("missrec_shuffle_test_" + std::to_string(::getpid()))).string();
  std::mt19937_64 random(7);
  DatasetWriter writer(layout.dir, 4, 4);
  int64_t first_global_id = 1;
  for (size_t d = 0; d < kUsersPerDomain.size(); ++d) {
    DomainContent domain;
    domain.name = "domain" + std::to_string(d);
    SampleTable& train = domain.splits["train"];
    int64_t samples = 0;
    for (int64_t u = 0; u < kUsersPerDomain[d]; ++u) {
      const int64_t runs = 8 + static_cast<int64_t>(random() % 33);
      // The user's own items: every target identifies its user.
      std::vector<int32_t> sequence(static_cast<size_t>(runs + 1));
      std::iota(sequence.begin(), sequence.end(), static_cast<int32_t>(domain.n_items));
      const int64_t user = static_cast<int64_t>(layout.user_samples.size());
      for (int64_t t = 1; t <= runs; ++t) {
        train.add(sequence.data(), t, sequence[static_cast<size_t>(t)], static_cast<int32_t>(user));
        layout.user_of_target[first_global_id + sequence[static_cast<size_t>(t)]] = user;
      }
      layout.user_samples.push_back(runs);
      domain.n_items += runs + 1;
      samples += runs;
    }
    domain.text.assign(static_cast<size_t>(domain.n_items * 4), 0.5f);
    domain.image.assign(static_cast<size_t>(domain.n_items * 4), 0.5f);
    writer.add_domain(domain);
    layout.domain_samples.push_back(samples);
    layout.total += samples;
    first_global_id += domain.n_items;
  }
  writer.commit();
  return layout;
}

const Layout& layout() {
  static const Layout written = write_dataset();
  return written;
}

// log C(n, k)
double log_choose(double n, double k) { return std::lgamma(n + 1) - std::lgamma(k + 1) - std::lgamma(n - k + 1); }

// P(a batch of B drawn without replacement from N misses `absent` given samples).
double miss_probability(int64_t total, int64_t absent) {
  if (total - absent < kBatch) return 0.0;
  return std::exp(log_choose(total - absent, kBatch) - log_choose(total, kBatch));
}

// P(k given samples all lie in one batch): B(B-1)..(B-k+1) / N(N-1)..(N-k+1).
double together_probability(int64_t total, int k) {
  double p = 1.0;
  for (int i = 0; i < k; ++i) p *= static_cast<double>(kBatch - i) / static_cast<double>(total - i);
  return p;
}

struct Moments {
  double mean = 0.0;
  double variance = 0.0;
};

// Domains present in a batch of a uniform permutation: a sum of indicators, exactly.
Moments uniform_domains(const Layout& data) {
  Moments m;
  const size_t domains = data.domain_samples.size();
  for (size_t d = 0; d < domains; ++d) {
    const double miss_d = miss_probability(data.total, data.domain_samples[d]);
    m.mean += 1.0 - miss_d;
    for (size_t e = 0; e < domains; ++e) {
      const double miss_e = miss_probability(data.total, data.domain_samples[e]);
      const double both =
          d == e ? miss_d : miss_probability(data.total, data.domain_samples[d] + data.domain_samples[e]);
      m.variance += both - miss_d * miss_e;
    }
  }
  return m;
}

// Pairs of one user's samples in a batch of a uniform permutation, exactly: a sum over
// the same-user pairs p of 1[p in batch]; E[X^2] sums over ordered pairs (p, q) that are
// equal (2 samples), share one sample (3) or are disjoint (4).
Moments uniform_same_user_pairs(const Layout& data) {
  double pairs = 0.0;
  double sharing_one = 0.0;
  for (int64_t m : data.user_samples) {
    pairs += 0.5 * static_cast<double>(m) * static_cast<double>(m - 1);
    sharing_one += static_cast<double>(m) * static_cast<double>(m - 1) * static_cast<double>(m - 2);
  }
  const double q2 = together_probability(data.total, 2);
  const double q3 = together_probability(data.total, 3);
  const double q4 = together_probability(data.total, 4);
  Moments m;
  m.mean = pairs * q2;
  m.variance = pairs * q2 + sharing_one * q3 + (pairs * pairs - pairs - sharing_one) * q4 - m.mean * m.mean;
  return m;
}

struct Composition {
  std::vector<double> domains;          // per batch
  std::vector<double> same_user_pairs;  // per batch
};

void add_batch(const std::vector<int64_t>& domains, const std::vector<int64_t>& users, Composition* out) {
  std::map<int64_t, int64_t> per_user;
  for (int64_t user : users) per_user[user] += 1;
  double pairs = 0.0;
  for (const auto& [user, count] : per_user) pairs += 0.5 * static_cast<double>(count * (count - 1));
  std::vector<int64_t> distinct = domains;
  std::sort(distinct.begin(), distinct.end());
  out->domains.push_back(static_cast<double>(std::unique(distinct.begin(), distinct.end()) - distinct.begin()));
  out->same_user_pairs.push_back(pairs);
}

// How far the observed mean per batch lies from the uniform expectation, in standard
// errors of a mean over that many batches. Batches of one epoch are drawn without
// replacement, which only narrows the spread, so this errs towards accepting.
double z_score(const std::vector<double>& observed, const Moments& uniform) {
  const double mean = std::accumulate(observed.begin(), observed.end(), 0.0) / static_cast<double>(observed.size());
  const double standard_error = std::sqrt(uniform.variance / static_cast<double>(observed.size()));
  return (mean - uniform.mean) / standard_error;
}

bool looks_uniform(const Composition& composition, const Layout& data, std::string* why) {
  const double domains = z_score(composition.domains, uniform_domains(data));
  const double pairs = z_score(composition.same_user_pairs, uniform_same_user_pairs(data));
  *why = "domains per batch z=" + std::to_string(domains) + ", same-user pairs per batch z=" + std::to_string(pairs);
  return std::abs(domains) < kAcceptedZ && std::abs(pairs) < kAcceptedZ;
}

// (domain, user) of every sample, in file order: each user's samples in one run.
std::vector<std::pair<int64_t, int64_t>> file_rows(const Layout& data) {
  std::vector<std::pair<int64_t, int64_t>> rows;
  int64_t user = 0;
  for (size_t d = 0; d < data.domain_samples.size(); ++d) {
    int64_t in_domain = 0;
    while (in_domain < data.domain_samples[d]) {
      for (int64_t s = 0; s < data.user_samples[static_cast<size_t>(user)]; ++s) rows.emplace_back(d, user);
      in_domain += data.user_samples[static_cast<size_t>(user)];
      ++user;
    }
  }
  return rows;
}

// Batch statistics of consecutive batches of `order`.
void add_batches(const std::vector<std::pair<int64_t, int64_t>>& order, Composition* composition) {
  for (size_t first = 0; first + kBatch <= order.size(); first += kBatch) {
    std::vector<int64_t> domains;
    std::vector<int64_t> users;
    for (size_t i = first; i < first + kBatch; ++i) {
      domains.push_back(order[i].first);
      users.push_back(order[i].second);
    }
    add_batch(domains, users, composition);
  }
}

TEST(Shuffle, TheExactMomentsAgreeWithSimulatedPermutations) {
  const Layout& data = layout();
  std::vector<std::pair<int64_t, int64_t>> rows = file_rows(data);
  std::mt19937_64 random(3);
  Composition composition;
  for (int permutation = 0; permutation < 20; ++permutation) {
    std::shuffle(rows.begin(), rows.end(), random);
    add_batches(rows, &composition);
  }
  for (const auto& [observed, uniform] : {std::pair{&composition.domains, uniform_domains(data)},
                                          std::pair{&composition.same_user_pairs, uniform_same_user_pairs(data)}}) {
    const double n = static_cast<double>(observed->size());
    const double mean = std::accumulate(observed->begin(), observed->end(), 0.0) / n;
    double variance = 0.0;
    for (double x : *observed) variance += (x - mean) * (x - mean) / (n - 1);
    EXPECT_LT(std::abs(mean - uniform.mean), kAcceptedZ * std::sqrt(uniform.variance / n));
    EXPECT_NEAR(variance / uniform.variance, 1.0, 0.25) << "mean " << uniform.mean;
  }
  EXPECT_GT(uniform_domains(data).mean, 4.5);
  EXPECT_LT(uniform_domains(data).mean, 4.9);
}

TEST(Shuffle, LoaderBatchesMatchAUniformPermutation) {
  const Layout& data = layout();
  const Dataset dataset = Dataset::open(data.dir);
  ASSERT_EQ(dataset.samples("train"), data.total);
  auto tables = std::make_shared<InterestState>();
  tables->text_interest = at::ones({dataset.total_items() + 1}, at::kLong);
  tables->image_interest = at::ones({dataset.total_items() + 1}, at::kLong);
  LoaderOptions options;
  options.global_batch = kBatch;
  Loader loader(dataset, options);
  Composition composition;
  for (int epoch = 0; epoch < kEpochs; ++epoch) {
    loader.start_epoch(epoch, 0, tables);
    while (auto batch = loader.next()) {
      std::vector<int64_t> domains(batch->domain.data_ptr<int64_t>(),
                                   batch->domain.data_ptr<int64_t>() + batch->domain.numel());
      std::vector<int64_t> users;
      for (int64_t b = 0; b < batch->pos_item.size(0); ++b) {
        users.push_back(data.user_of_target.at(batch->pos_item[b].item<int64_t>()));
      }
      add_batch(domains, users, &composition);
    }
  }
  ASSERT_EQ(static_cast<int64_t>(composition.domains.size()), kEpochs * (data.total / kBatch));
  std::string why;
  EXPECT_TRUE(looks_uniform(composition, data, &why)) << why;
  std::printf("loader: %s\n", why.c_str());
}

TEST(Shuffle, TheMeasureRejectsAChunkedOrder) {
  // The order this project used before: the files' rows cut into chunks of 256, the
  // chunks shuffled, the rows shuffled inside each chunk. The same measure must reject it.
  const Layout& data = layout();
  const std::vector<std::pair<int64_t, int64_t>> rows = file_rows(data);
  std::vector<std::vector<std::pair<int64_t, int64_t>>> chunks;
  size_t domain_start = 0;
  for (size_t d = 0; d < data.domain_samples.size(); ++d) {
    const size_t domain_end = domain_start + static_cast<size_t>(data.domain_samples[d]);
    for (size_t first = domain_start; first < domain_end; first += 256) {
      chunks.emplace_back(rows.begin() + static_cast<std::ptrdiff_t>(first),
                          rows.begin() + static_cast<std::ptrdiff_t>(std::min(first + 256, domain_end)));
    }
    domain_start = domain_end;
  }
  std::mt19937_64 random(11);
  Composition composition;
  for (int epoch = 0; epoch < kEpochs; ++epoch) {
    std::shuffle(chunks.begin(), chunks.end(), random);
    std::vector<std::pair<int64_t, int64_t>> order;
    for (auto& chunk : chunks) {
      std::shuffle(chunk.begin(), chunk.end(), random);
      order.insert(order.end(), chunk.begin(), chunk.end());
    }
    add_batches(order, &composition);
  }
  std::string why;
  EXPECT_FALSE(looks_uniform(composition, data, &why)) << why;
  std::printf("chunked order: %s\n", why.c_str());
}

TEST(Shuffle, CleanUp) { std::filesystem::remove_all(layout().dir); }

}  // namespace
}  // namespace missrec::data
