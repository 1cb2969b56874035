#include "model/kernel_choice.h"

namespace missrec::model {

namespace {
thread_local bool tensor_ops_only = false;
}  // namespace

TensorOpsOnly::TensorOpsOnly() : previous_(tensor_ops_only) { tensor_ops_only = true; }

TensorOpsOnly::~TensorOpsOnly() { tensor_ops_only = previous_; }

bool TensorOpsOnly::active() { return tensor_ops_only; }

}  // namespace missrec::model
