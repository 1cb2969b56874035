#include "train/recommendation.h"

#include <glog/logging.h>

#include <filesystem>
#include <limits>
#include <optional>

#include "data/h5_file.h"
#include "data/npy_file.h"
#include "runtime/comm.h"
#include "runtime/error.h"
#include "runtime/file_io.h"
#include "train/split_batches.h"

namespace missrec::train {

namespace {

namespace fs = std::filesystem;
namespace F = torch::nn::functional;

constexpr int64_t kSampleColumns = 3;  // sample, user, target

torch::Tensor sample_columns(const std::vector<data::RawSample>& samples) {
  std::vector<double> values;
  for (const data::RawSample& sample : samples) {
    values.insert(values.end(), {static_cast<double>(sample.position), static_cast<double>(sample.user),
                                 static_cast<double>(sample.target)});
  }
  return torch::tensor(values, torch::kDouble).view({-1, kSampleColumns});
}

// Creates the /…sample, /…user, /…target datasets of `users` rows under `group`.
void create_sample_datasets(data::H5File& file, const std::string& group, int64_t users) {
  for (const char* name : {"sample", "user", "target"}) file.create_rows(group + name, torch::kLong, users, 0);
}

void write_sample_rows(data::H5File& file, const std::string& group, int64_t row, const torch::Tensor& rows) {
  const char* names[kSampleColumns] = {"sample", "user", "target"};
  for (int64_t c = 0; c < kSampleColumns; ++c)
    file.write_rows(group + names[c], row, rows.select(1, c).to(torch::kLong));
}

// One batch's rows [b, 3 + 2K]: sample columns, the top-K global item ids, their scores.
torch::Tensor recommendation_rows(model::MissRecImpl& model, const model::AdaptedItems& adapted,
                                  const std::vector<data::RawSample>& samples, int64_t batch_index,
                                  const data::InterestState& interests, int64_t max_seq_len,
                                  const RecommendOptions& options, at::Device device) {
  const torch::Tensor z = encode_samples(model, adapted, samples, batch_index, interests, max_seq_len, device);
  const int64_t items = adapted.text.size(0) - 1;
  // Masked and ranked where the scores are (the GPU's [b, N] never crosses to the host).
  torch::Tensor scores = model.all_item_scores(z, adapted).narrow(1, 1, items).to(torch::kFloat);
  if (options.exclude_history) {
    std::vector<int64_t> rows, columns;
    for (size_t i = 0; i < samples.size(); ++i) {
      for (const int64_t item : samples[i].history) {
        rows.push_back(static_cast<int64_t>(i));
        columns.push_back(item - 1);
      }
    }
    const auto on_device = [&](const std::vector<int64_t>& values) {
      return torch::tensor(values, torch::kLong).to(scores.device());
    };
    scores.index_put_({on_device(rows), on_device(columns)}, -std::numeric_limits<float>::infinity());
  }
  const auto [values, indices] = scores.topk(options.topk, 1, /*largest=*/true, /*sorted=*/true);
  return torch::cat({sample_columns(samples), (indices.to(torch::kCPU) + 1).to(torch::kDouble),
                     values.to(torch::kCPU, torch::kDouble)},
                    1);
}

// Runs body(file) with rank 0's staged HDF5 file of `out` and body(nullptr) elsewhere.
void write_on_rank0(runtime::Communicator& comm, const std::string& out,
                    const std::function<void(data::H5File*)>& body) {
  if (comm.rank() != 0) return body(nullptr);
  runtime::write_staged(out, [&](const std::string& staging) {
    data::H5File file = data::H5File::create(staging);
    body(&file);
    file.flush();
  });
}

}  // namespace

void write_recommendations(model::MissRecImpl& model, const model::ItemFeatures& features,
                           const data::InterestState& interests, const data::Dataset& dataset, int64_t max_seq_len,
                           const RecommendOptions& options, runtime::Communicator& comm, const std::string& out) {
  torch::NoGradGuard no_grad;
  model.eval();
  const int64_t items = features.text.size(0) - 1;
  CHECK(options.topk >= 1 && options.topk <= items) << "topk " << options.topk << " of " << items << " items";
  const model::AdaptedItems adapted = model.adapt_items({torch::arange(0, items + 1, torch::kLong)}, features);
  SplitBatches batches(dataset, options.split, options.batch_size);
  const int64_t k = options.topk;
  write_on_rank0(comm, out, [&](data::H5File* file) {
    if (file != nullptr) {
      create_sample_datasets(*file, "/", batches.samples());
      file->create_rows("/items", torch::kLong, batches.samples(), k);
      file->create_rows("/scores", torch::kFloat, batches.samples(), k);
    }
    int64_t row = 0;
    gather_in_batch_order(
        batches.batches(), kSampleColumns + 2 * k, comm,
        [&](int64_t b) {
          return recommendation_rows(model, adapted, batches.read(b), b, interests, max_seq_len, options,
                                     comm.device());
        },
        [&](const torch::Tensor& rows) {
          if (file != nullptr) {
            write_sample_rows(*file, "/", row, rows);
            file->write_rows("/items", row, rows.narrow(1, kSampleColumns, k).to(torch::kLong));
            file->write_rows("/scores", row, rows.narrow(1, kSampleColumns + k, k).to(torch::kFloat));
          }
          row += rows.size(0);
        });
  });
}

namespace {

// The unit vectors of items [first, first + count): [count, 2H or 3H] (text | image | id).
torch::Tensor item_vector_rows(model::MissRecImpl& model, const model::ItemFeatures& features, int64_t first,
                               int64_t count) {
  const torch::Tensor ids = torch::arange(first, first + count, torch::kLong).to(features.text.device());
  const auto [text, image] = model.item_vectors(ids, features);
  std::vector<torch::Tensor> parts = {text, image};
  if (model.has_item_ids()) {
    parts.push_back(F::normalize(model.item_embedding(ids), F::NormalizeFuncOptions().dim(-1).eps(1e-12)));
  }
  return torch::cat(parts, 1).to(torch::kCPU, torch::kDouble);
}

// The item half of write_vectors: /items/* of `file` and items.npy (rank 0's only).
void write_item_vectors(model::MissRecImpl& model, const model::ItemFeatures& features, runtime::Communicator& comm,
                        int64_t item_block, data::H5File* file, const std::string& npy_path) {
  const int64_t items = features.text.size(0) - 1;
  const int64_t hidden = model.config().hidden_size;
  const std::vector<std::string> parts = model.has_item_ids() ? std::vector<std::string>{"text", "image", "id"}
                                                              : std::vector<std::string>{"text", "image"};
  const int64_t columns = hidden * static_cast<int64_t>(parts.size());
  std::optional<data::NpyWriter> npy;
  if (file != nullptr) {
    for (const std::string& part : parts) file->create_rows("/items/" + part, torch::kFloat, items, hidden);
    npy.emplace(npy_path, items, columns);
  }
  int64_t row = 0;
  gather_in_batch_order((items + item_block - 1) / item_block, columns, comm,
                        [&](int64_t block) {
                          const int64_t first = block * item_block;
                          return item_vector_rows(model, features, first + 1, std::min(item_block, items - first));
                        },
                        [&](const torch::Tensor& rows) {
                          if (file == nullptr) return;
                          const torch::Tensor values = rows.to(torch::kFloat);
                          for (size_t p = 0; p < parts.size(); ++p) {
                            file->write_rows("/items/" + parts[p], row,
                                             values.narrow(1, hidden * static_cast<int64_t>(p), hidden));
                          }
                          npy->append(values);
                          row += rows.size(0);
                        });
  if (npy) npy->close();
}

// The user half of write_vectors: /users/* of `file` and users.npy (rank 0's only).
void write_user_vectors(model::MissRecImpl& model, const model::ItemFeatures& features,
                        const data::InterestState& interests, const data::Dataset& dataset, int64_t max_seq_len,
                        const RecommendOptions& options, runtime::Communicator& comm, data::H5File* file,
                        const std::string& npy_path) {
  const int64_t items = features.text.size(0) - 1;
  const int64_t hidden = model.config().hidden_size;
  const model::AdaptedItems adapted = model.adapt_items({torch::arange(0, items + 1, torch::kLong)}, features);
  SplitBatches batches(dataset, options.split, options.batch_size);
  std::optional<data::NpyWriter> npy;
  if (file != nullptr) {
    create_sample_datasets(*file, "/users/", batches.samples());
    file->create_rows("/users/z", torch::kFloat, batches.samples(), hidden);
    npy.emplace(npy_path, batches.samples(), hidden);
  }
  int64_t row = 0;
  gather_in_batch_order(
      batches.batches(), kSampleColumns + hidden, comm,
      [&](int64_t b) {
        const std::vector<data::RawSample> samples = batches.read(b);
        const torch::Tensor z = encode_samples(model, adapted, samples, b, interests, max_seq_len, comm.device());
        return torch::cat({sample_columns(samples), z.to(torch::kCPU, torch::kDouble)}, 1);
      },
      [&](const torch::Tensor& rows) {
        if (file == nullptr) return;
        write_sample_rows(*file, "/users/", row, rows);
        const torch::Tensor z = rows.narrow(1, kSampleColumns, hidden).to(torch::kFloat);
        file->write_rows("/users/z", row, z);
        npy->append(z);
        row += rows.size(0);
      });
  if (npy) npy->close();
}

}  // namespace

void write_vectors(model::MissRecImpl& model, const model::ItemFeatures& features, const data::InterestState& interests,
                   const data::Dataset& dataset, int64_t max_seq_len, const RecommendOptions& options,
                   runtime::Communicator& comm, const std::string& dir, int64_t item_block) {
  torch::NoGradGuard no_grad;
  model.eval();
  const std::string staging = dir + ".partial";
  if (comm.rank() == 0) {
    fs::remove_all(staging);
    fs::create_directories(staging);
  }
  try {
    write_on_rank0(comm, staging + "/vectors.h5", [&](data::H5File* file) {
      write_item_vectors(model, features, comm, item_block, file, staging + "/items.npy");
      write_user_vectors(model, features, interests, dataset, max_seq_len, options, comm, file, staging + "/users.npy");
    });
    if (comm.rank() == 0) {
      runtime::sync_path(staging);
      fs::rename(staging, dir);
    }
  } catch (...) {
    if (comm.rank() == 0) fs::remove_all(staging);
    throw;
  }
}

}  // namespace missrec::train
