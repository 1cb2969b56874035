#include "train/finetuner.h"

#include <ATen/Parallel.h>
#include <glog/logging.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "cluster/interest_refresh.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "model/missrec_model.h"
#include "runtime/comm.h"
#include "runtime/error.h"
#include "runtime/file_io.h"
#include "runtime/threads.h"
#include "train/adam.h"
#include "train/evaluation.h"
#include "train/export.h"
#include "train/gradient_sync.h"
#include "train/metrics_log.h"
#include "train/model_setup.h"
#include "train/parameter_set.h"
#include "train/precision.h"

namespace missrec::train {

namespace fs = std::filesystem;

namespace {

// Scalars summed with the gradients: CE sum, regulariser.
enum Scalar : int64_t { kCrossEntropy, kReg, kScalars };

bool frozen_when_pretrained(const std::string& name) {
  return name.rfind("trm_model.", 0) == 0 || name.rfind("position_embedding.", 0) == 0;
}

// The run configuration with the model shape of the pretrained export (the
// architecture must match its weights); dropout, loss and training keys stay the run's.
runtime::Config with_pretrained_shape(runtime::Config config, const ModelExport& pretrained,
                                      const std::string& path) {
  const runtime::ModelConfig& theirs = pretrained.config.model;
  runtime::ModelConfig& ours = config.model;
  if (ours.hidden_size != theirs.hidden_size || ours.n_heads != theirs.n_heads ||
      ours.n_layers != theirs.n_layers || ours.inner_size != theirs.inner_size ||
      ours.max_seq_len != theirs.max_seq_len || ours.hidden_act != theirs.hidden_act) {
    LOG(WARNING) << "model shape taken from " << path << " (hidden_size " << theirs.hidden_size << ", n_heads "
                 << theirs.n_heads << ", n_layers " << theirs.n_layers << ", inner_size " << theirs.inner_size
                 << ", max_seq_len " << theirs.max_seq_len << ", " << theirs.hidden_act
                 << "), not from the configuration";
  }
  ours.hidden_size = theirs.hidden_size;
  ours.n_heads = theirs.n_heads;
  ours.n_layers = theirs.n_layers;
  ours.inner_size = theirs.inner_size;
  ours.max_seq_len = theirs.max_seq_len;
  ours.hidden_act = theirs.hidden_act;
  ours.layer_norm_eps = theirs.layer_norm_eps;
  return config;
}

}  // namespace

int run_finetuning(const runtime::Config& run_config, const FinetuneRequest& request,
                   runtime::Communicator& comm) {
  const at::Device device = comm.device();
  const data::Dataset dataset = data::Dataset::open(request.data_dir);
  for (const char* split : {"train", "valid", "test"}) {
    if (dataset.samples(split) == 0) {
      runtime::throw_input_error(request.data_dir, std::string("has no ") + split +
                                                       " samples (a downstream dataset needs train, valid and test)");
    }
  }
  ModelExport pretrained;
  runtime::Config config = run_config;
  if (!request.pretrained.empty()) {
    pretrained = read_native_export(request.pretrained);
    config = with_pretrained_shape(config, pretrained, request.pretrained);
  }
  const bool transductive = config.finetune.mode == "transductive";
  const int64_t items = dataset.total_items();
  model::MissRec model = make_model(model_config_of(config, dataset.text_dim(), dataset.image_dim(), transductive ? items : 0),
                                    static_cast<uint64_t>(config.run.seed), device);
  if (!request.pretrained.empty()) {
    std::map<std::string, torch::Tensor> weights = pretrained.parameters;
    weights.erase("item_embedding.weight");  // item ids of another dataset
    load_parameters(*model, weights, request.pretrained, /*allow_missing=*/true);
    for (const auto& item : model->named_parameters()) {
      if (item.key() == "item_embedding.weight") continue;
      if (weights.count(item.key()) == 0) {
        runtime::throw_input_error(request.pretrained, "lacks parameter '" + item.key() + "'");
      }
      if (frozen_when_pretrained(item.key())) item.value().set_requires_grad(false);
    }
  }
  broadcast_module(*model, comm, 0);
  verify_same_on_all_ranks(module_checksum(*model), "initial parameters", comm);
  seed_rank_generators(static_cast<uint64_t>(config.run.seed), 0x66696e65ULL, comm.rank());
  const model::ItemFeatures features = load_features(dataset, config, device);
  ParameterSet parameters(*model);
  Adam adam(parameters, AdamOptions{config.train.lr, 0.9, 0.999, 1e-8, config.train.weight_decay});
  GradientSync sync(parameters, comm, kScalars);
  const data::LoaderOptions loader_options = loader_options_of(
      config, "train", std::min<int64_t>(config.train.batch_size, dataset.samples("train") / comm.size() * comm.size()),
      comm);
  data::Loader loader(dataset, loader_options);
  const double batch_size = static_cast<double>(loader_options.global_batch);

  const std::string run_dir = config.run_dir();
  if (comm.rank() == 0) {
    std::error_code error;
    fs::create_directories(run_dir, error);
    if (error) runtime::throw_input_error(run_dir, "cannot create the run directory: " + error.message());
  }
  MetricsFile metrics(comm.rank() == 0 ? run_dir + "/metrics.jsonl" : "");
  const std::string best_path = run_dir + "/best.h5";
  LOG(INFO) << "fine-tuning on " << dataset.dir() << " (" << items << " items, " << dataset.samples("train")
            << " train samples, " << loader.steps_per_epoch() << " steps of " << loader_options.global_batch
            << " per epoch), mode " << config.finetune.mode << ", "
            << (request.pretrained.empty() ? std::string("from scratch") : "from " + request.pretrained +
                                                                              " (trm_model and position_embedding frozen)")
            << ", " << parameters.numel() << " trainable values, " << comm.size() << " ranks";

  const cluster::RefreshOptions refresh_options = refresh_options_of(config);
  const Precision precision = precision_of(config.train.precision);

  double best_ndcg = -1.0;
  int64_t best_epoch = 0;
  int64_t epochs_without_gain = 0;
  int64_t global_step = 0;
  const torch::Tensor all_ids = torch::arange(1, items + 1, torch::TensorOptions().dtype(torch::kLong).device(device));
  // On the host: adapt_items finds distinct ids where they are, without waiting for a GPU.
  const torch::Tensor all_ids_and_padding = torch::arange(0, items + 1, torch::kLong);
  for (int64_t epoch = 0; epoch < config.train.epochs; ++epoch) {
    Stopwatch epoch_clock;
    model->eval();
    cluster::InterestState interests = cluster::refresh_interests(*model, features, refresh_options, comm);
    const double refresh_s = epoch_clock.lap();
    const torch::Tensor interest_embeddings = interests.interest_embeddings.to(device);
    auto interest_tables = std::make_shared<data::InterestTables>();
    interest_tables->text_interest = interests.text_interest.to(at::kCPU);
    interest_tables->image_interest = interests.image_interest.to(at::kCPU);
    model->train();
    loader.start_epoch(epoch, 0, interest_tables);
    double loss_sum = 0.0;
    double reg_sum = 0.0;
    int64_t steps = 0;
    // The step's GEMMs use every BLAS thread; its small ops run best on one (see threads.h).
    const runtime::ScopedIntraOpThreads one_intra_op_thread(device.is_cpu() ? 1 : at::get_num_threads());
    while (std::optional<data::Batch> batch = loader.next()) {
      data::pad_interests_globally(*batch, comm);
      for (const auto& entry : parameters.entries()) entry.tensor.mutable_grad() = torch::Tensor();
      model::SequenceInput input;
      input.host_item_length = batch->view.item_length;
      input.host_interest_seq = batch->view.interest_seq;
      input.item_seq = batch->view.item_seq.to(device, /*non_blocking=*/true);
      input.item_length = batch->view.item_length.to(device, /*non_blocking=*/true);
      input.interest_seq = batch->view.interest_seq.to(device, /*non_blocking=*/true);
      model::SequenceOutput output;
      torch::Tensor scores;
      {
        const MixedPrecisionScope mixed_precision(precision, device);
        // Every item is a candidate: adaptors once over all items (row 0 for padding).
        const model::AdaptedItems adapted = model->adapt_items({all_ids_and_padding}, features);
        output = model->encode_by_length(input, adapted, interest_embeddings);
        const auto [item_text, item_image] = model->item_vectors(all_ids, adapted);
        scores = model->logits(output.z, item_text, item_image, transductive ? all_ids : torch::Tensor()) /
                 config.model.temperature;
      }
      const torch::Tensor labels = batch->pos_item.to(device, /*non_blocking=*/true) - 1;
      const torch::Tensor cross_entropy = torch::nn::functional::cross_entropy(
          scores, labels, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
      const torch::Tensor loss = cross_entropy / batch_size + config.loss.gamma * output.reg;
      loss.backward();
      // One host synchronisation: the summed parts, read back together.
      const torch::Tensor summed =
          sync.allreduce(torch::stack({cross_entropy.detach(), output.reg.detach().reshape({})}).to(torch::kFloat))
              .to(torch::kCPU, torch::kDouble);
      const std::vector<double> sums(summed.data_ptr<double>(), summed.data_ptr<double>() + summed.numel());
      const double total = sums[kCrossEntropy] / batch_size + config.loss.gamma * sums[kReg];
      if (!std::isfinite(total)) {
        throw std::runtime_error("non-finite fine-tuning loss at epoch " + std::to_string(epoch + 1) + ", step " +
                                 std::to_string(steps) + "; the best model so far is kept in " + best_path);
      }
      adam.step();
      ++global_step;
      ++steps;
      loss_sum += sums[kCrossEntropy] / batch_size;
      reg_sum += sums[kReg];
      if (comm.rank() == 0) {
        metrics.write(JsonLine().add("kind", std::string("step")).add("epoch", epoch + 1).add("step", steps)
                          .add("global_step", global_step).add("loss", total)
                          .add("cross_entropy", sums[kCrossEntropy] / batch_size).add("reg", sums[kReg]));
      }
    }
    const double train_s = epoch_clock.lap();
    const RankingMetrics valid = evaluate_split(*model, features, interest_embeddings, *interest_tables, dataset,
                                                "valid", config.model.max_seq_len, comm);
    const double valid_s = epoch_clock.lap();
    const bool improved = valid.ndcg10 > best_ndcg;
    if (improved) {
      best_ndcg = valid.ndcg10;
      best_epoch = epoch + 1;
      epochs_without_gain = 0;
      if (comm.rank() == 0) {
        ModelExport best;
        best.config = config;
        for (const auto& [name, tensor] : model->named_tensors()) best.parameters[name] = tensor.detach().to(at::kCPU).clone();
        best.interest_embeddings = interests.interest_embeddings.to(at::kCPU);
        best.text_interest = interest_tables->text_interest;
        best.image_interest = interest_tables->image_interest;
        best.epoch = epoch + 1;
        best.global_step = global_step;
        write_native_export(best, best_path);
      }
    } else {
      ++epochs_without_gain;
    }
    const double mean_loss = loss_sum / std::max<int64_t>(steps, 1);
    if (comm.rank() == 0) {
      metrics.write(JsonLine().add("kind", std::string("epoch")).add("epoch", epoch + 1).add("steps", steps)
                        .add("loss", mean_loss + config.loss.gamma * reg_sum / std::max<int64_t>(steps, 1))
                        .add("cross_entropy", mean_loss).add("valid_recall@10", valid.recall10)
                        .add("valid_ndcg@10", valid.ndcg10).add("valid_recall@50", valid.recall50)
                        .add("valid_ndcg@50", valid.ndcg50).add("best_epoch", best_epoch)
                        .add("refresh_s", refresh_s).add("train_s", train_s).add("valid_s", valid_s));
    }
    LOG(INFO) << "epoch " << epoch + 1 << "/" << config.train.epochs << ": loss " << mean_loss << ", valid recall@10 "
              << valid.recall10 << " ndcg@10 " << valid.ndcg10 << (improved ? " (best)" : "") << " | "
              << static_cast<int64_t>(steps * batch_size / std::max(train_s, 1e-9)) << " samples/s, refresh "
              << refresh_s << " s, validation " << valid_s << " s";
    if (epochs_without_gain >= config.finetune.patience) {
      LOG(INFO) << "early stop: no better validation NDCG@10 for " << epochs_without_gain << " epochs (best: epoch "
                << best_epoch << ", " << best_ndcg << ")";
      break;
    }
  }

  // Test with the best model (every rank reads it back: the same file on one node; on
  // several, rank 0 broadcasts the parameters).
  comm.barrier();
  ModelExport best;
  if (comm.rank() == 0) best = read_native_export(best_path);
  cluster::InterestState best_interests;
  if (comm.rank() == 0) {
    load_parameters(*model, best.parameters, best_path);
    best_interests.interest_embeddings = best.interest_embeddings;
    best_interests.text_interest = best.text_interest;
    best_interests.image_interest = best.image_interest;
  }
  broadcast_module(*model, comm, 0);
  cluster::broadcast_interests(best_interests, items + 1, config.model.hidden_size, comm);
  const data::InterestTables best_tables{best_interests.text_interest, best_interests.image_interest};
  const RankingMetrics test = evaluate_split(*model, features, best_interests.interest_embeddings, best_tables,
                                             dataset, "test",
                                             config.model.max_seq_len, comm);
  if (comm.rank() == 0) {
    runtime::write_file_atomically(run_dir + "/test_metrics.json", test.json() + "\n");
    metrics.write(JsonLine().add("kind", std::string("test")).add("best_epoch", best_epoch)
                      .add("recall@10", test.recall10).add("ndcg@10", test.ndcg10)
                      .add("recall@50", test.recall50).add("ndcg@50", test.ndcg50).add("users", test.users));
  }
  LOG(INFO) << "test (best epoch " << best_epoch << "): " << test.json() << "; written to " << run_dir
            << "/test_metrics.json";
  return runtime::kExitOk;
}

}  // namespace missrec::train
