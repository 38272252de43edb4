// Internal to recorder/: finding a text inside stored columns, in any case,
// through a trigram index (the audit log's reasons and details, the
// commands of recordings; schema 13 and 14 in common/database.cpp).
//
// SQLite's FTS5 tables (tokenize='trigram', detail=none) say which rows
// hold every trigram of the text, not where: the caller also checks the
// text itself with LIKE ... ESCAPE '\' on what they find. Text of fewer
// than three characters has no trigram and is looked for row by row.
// PostgreSQL: ILIKE, which its planner answers from GIN indexes of pg_trgm.
#pragma once

#include <set>
#include <string>
#include <vector>

namespace bastion::recorder {

// A LIKE pattern that matches `text` literally, anywhere (ESCAPE '\').
inline std::string contains_pattern(const std::string& text) {
  std::string p = "%";
  for (char c : text) {
    if (c == '%' || c == '_' || c == '\\') p += '\\';
    p += c;
  }
  return p + "%";
}

// Whether a trigram index can find `text`: it needs three characters
// (UTF-8 continuation bytes are not characters).
inline bool trigram_searchable(const std::string& text) {
  size_t chars = 0;
  for (char c : text) chars += (static_cast<unsigned char>(c) & 0xC0) != 0x80 ? 1 : 0;
  return chars >= 3;
}

// An FTS5 query for the rows that hold the trigrams that tile `text` (the
// first, every third after it, and the last: each character is in one,
// and AND-ing fewer lists of rows is faster than all the overlapping ones;
// the LIKE check decides anyway): each a quoted string, its double quotes
// doubled, joined by AND.
inline std::string fts_trigrams(const std::string& text) {
  std::vector<size_t> starts;  // where each character begins
  for (size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) starts.push_back(i);
  }
  starts.push_back(text.size());
  std::set<std::string> trigrams;
  auto trigram_at = [&](size_t k) { return text.substr(starts[k], starts[k + 3] - starts[k]); };
  for (size_t k = 0; k + 3 < starts.size(); k += 3) trigrams.insert(trigram_at(k));
  if (starts.size() >= 4) trigrams.insert(trigram_at(starts.size() - 4));
  std::string q;
  for (const auto& t : trigrams) {
    if (!q.empty()) q += " AND ";
    q += '"';
    for (char c : t) {
      if (c == '"') q += '"';
      q += c;
    }
    q += '"';
  }
  return q;
}

}  // namespace bastion::recorder
