#pragma once

#include <string>
#include <vector>

namespace missrec::runtime {

// The candidate closest to `word` by edit distance (transpositions count once), or ""
// when none is close enough to be a plausible typo.
std::string closest_match(const std::string& word, const std::vector<std::string>& candidates);

// " (did you mean 'x'?)" or "" — appended to unknown-name errors.
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace missrec::runtime
