// SCIM 2.0 Users: reading, PATCH, filters, discovery (policy/scim.h).
#include "policy/scim.h"

#include <algorithm>
#include <cctype>
#include <functional>

#include "policy/model.h"

namespace bastion::policy::scim {
namespace {

using nlohmann::json;

enum class Type { kString, kBoolean, kComplex };

// One attribute of bastion's schemas (RFC 7643 §7): enough to read what a
// provider sends and to describe it in /Schemas.
struct Attr {
  const char* name;
  Type type = Type::kString;
  bool multi = false;
  bool case_exact = false;
  const char* description = "";
  std::vector<Attr> subs = {};
};

const std::vector<Attr>& core_attrs() {
  static const std::vector<Attr> a = {
      {"userName", Type::kString, false, false,
       "Unique name; its part before '@', in lower case, is the person's name"},
      {"externalId", Type::kString, false, true, "The provider's identifier"},
      {"active", Type::kBoolean, false, false, "false: the person has left (their access and sessions end)"},
      {"displayName", Type::kString},
      {"nickName", Type::kString},
      {"title", Type::kString},
      {"userType", Type::kString},
      {"preferredLanguage", Type::kString},
      {"locale", Type::kString},
      {"timezone", Type::kString},
      {"name",
       Type::kComplex,
       false,
       false,
       "",
       {{"formatted"}, {"familyName"}, {"givenName"}, {"middleName"}, {"honorificPrefix"}, {"honorificSuffix"}}},
      {"emails",
       Type::kComplex,
       true,
       false,
       "The work address (else the primary one) is the person's e-mail address",
       {{"value"}, {"display"}, {"type"}, {"primary", Type::kBoolean}}},
  };
  return a;
}

const std::vector<Attr>& enterprise_attrs() {
  static const std::vector<Attr> a = {
      {"employeeNumber", Type::kString, false, false, "The HR employee id (set when the user is created)"},
      {"costCenter", Type::kString},
      {"organization", Type::kString},
      {"division", Type::kString},
      {"department", Type::kString, false, false, "Maps to roles ([hr.departments])"},
      {"manager", Type::kComplex, false, false, "", {{"value"}, {"displayName"}, {"$ref"}}},
  };
  return a;
}

const std::vector<Attr>& group_attrs() {
  static const std::vector<Attr> a = {
      {"displayName", Type::kString, false, false, "Its name; [scim.groups] maps it to roles"},
      {"externalId", Type::kString, false, true, "The provider's identifier"},
      {"members",
       Type::kComplex,
       true,
       false,
       "Users (value: a User's id)",
       {{"value", Type::kString, false, true}, {"display"}, {"type"}, {"$ref"}}},
  };
  return a;
}

// What a resource type keeps: its attributes, whether it has the enterprise
// extension, and the attribute it requires.
struct Shape {
  const std::vector<Attr>& core;
  bool enterprise;
  const char* required;
  size_t max_values;  // of a multi-valued attribute
};
const Shape& user_shape() {
  static const Shape s{core_attrs(), true, "userName", kMaxEmails};
  return s;
}
const Shape& group_shape() {
  static const Shape s{group_attrs(), false, "displayName", kMaxMembers};
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

const Attr* find_attr(const std::vector<Attr>& attrs, std::string_view name) {
  for (const auto& a : attrs) {
    if (iequals(a.name, name)) return &a;
  }
  return nullptr;
}

Error bad_value(const std::string& detail) { return {400, "invalidValue", detail}; }

bool has_control(const std::string& s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

// One value of attribute `a` (not the multi-valued list): checked, in its canonical form.
Outcome<json> read_single(const Attr& a, const json& in, const std::string& where) {
  switch (a.type) {
    case Type::kString: {
      std::string s;
      if (in.is_string()) {
        s = in.get<std::string>();
      } else if (in.is_number_integer()) {
        s = in.dump();  // an employee number sent as a number
      } else {
        return bad_value(where + " must be a string");
      }
      if (s.size() > kMaxStringBytes) return bad_value(where + " is longer than " + std::to_string(kMaxStringBytes));
      if (has_control(s)) return bad_value(where + " contains control characters");
      return json(s);
    }
    case Type::kBoolean:
      if (in.is_boolean()) return in;
      // Microsoft Entra ID sends "True" and "False".
      if (in.is_string() && iequals(in.get<std::string>(), "true")) return json(true);
      if (in.is_string() && iequals(in.get<std::string>(), "false")) return json(false);
      return bad_value(where + " must be a boolean");
    case Type::kComplex: {
      if (!in.is_object()) return bad_value(where + " must be an object");
      json out = json::object();
      for (const auto& [k, v] : in.items()) {
        const Attr* sub = find_attr(a.subs, k);
        if (sub == nullptr || v.is_null()) continue;
        auto r = read_single(*sub, v, where + "." + sub->name);
        if (!r) return r.error();
        out[sub->name] = *r;
      }
      return out;
    }
  }
  return bad_value(where + ": unknown type");
}

// Attribute `a`'s whole value (a list for a multi-valued one; a single object is taken as a list of one).
Outcome<json> read_value(const Attr& a, const json& in, size_t max_values) {
  if (!a.multi) return read_single(a, in, a.name);
  json list = in.is_array() ? in : json::array({in});
  if (list.size() > max_values) return bad_value(std::string(a.name) + " has more than " + std::to_string(max_values));
  json out = json::array();
  for (const auto& v : list) {
    auto r = read_single(a, v, a.name);
    if (!r) return r.error();
    out.push_back(*r);
  }
  return out;
}

// Which schema an attribute name belongs to, and the name without its URN.
struct Named {
  bool enterprise = false;
  std::string name;
  bool whole_extension = false;  // the name is the extension's URN itself
  bool unknown_urn = false;
};
Named split_urn(std::string_view key) {
  Named n;
  if (iequals(key, kEnterpriseSchema)) {
    n.enterprise = true;
    n.whole_extension = true;
    return n;
  }
  const std::string ent = std::string(kEnterpriseSchema) + ":";
  const std::string core = std::string(kUserSchema) + ":";
  const std::string group = std::string(kGroupSchema) + ":";
  if (istarts_with(key, ent)) {
    n.enterprise = true;
    n.name = key.substr(ent.size());
  } else if (istarts_with(key, core)) {
    n.name = key.substr(core.size());
  } else if (istarts_with(key, group)) {
    n.name = key.substr(group.size());
  } else if (istarts_with(key, "urn:")) {
    n.unknown_urn = true;
    n.name = key;
  } else {
    n.name = key;
  }
  return n;
}

// Sets `name` (possibly URN-qualified, possibly "manager.value") from `v` in
// `doc`; unknown attributes are ignored. `append`: a multi-valued one gains
// the values rather than being replaced.
// Two elements of a multi-valued attribute are the same when their "value"s are.
bool same_element(const json& a, const json& b) {
  if (a.is_object() && b.is_object() && a.contains("value") && b.contains("value")) return a["value"] == b["value"];
  return a == b;
}

Outcome<bool> set_attribute(const Shape& shape, json& doc, std::string_view key, const json& v, bool append) {
  Named n = split_urn(key);
  if (n.unknown_urn || (n.enterprise && !shape.enterprise)) return false;
  if (n.whole_extension) {
    if (v.is_null()) {
      doc.erase(kEnterpriseSchema);
      return true;
    }
    if (!v.is_object()) return bad_value(std::string(kEnterpriseSchema) + " must be an object");
    for (const auto& [k, sub] : v.items()) {
      auto r = set_attribute(shape, doc, std::string(kEnterpriseSchema) + ":" + k, sub, append);
      if (!r) return r;
    }
    return true;
  }
  const auto& attrs = n.enterprise ? enterprise_attrs() : shape.core;
  std::string name = n.name, sub_name;
  if (auto dot = name.find('.'); dot != std::string::npos) {
    sub_name = name.substr(dot + 1);
    name = name.substr(0, dot);
  }
  const Attr* a = find_attr(attrs, name);
  if (a == nullptr) return false;
  json& container = n.enterprise ? doc[kEnterpriseSchema] : doc;
  if (!sub_name.empty()) {
    const Attr* s = a->type == Type::kComplex && !a->multi ? find_attr(a->subs, sub_name) : nullptr;
    if (s == nullptr) return false;
    if (v.is_null()) {
      if (container.contains(a->name)) container[a->name].erase(s->name);
      return true;
    }
    auto r = read_single(*s, v, std::string(a->name) + "." + s->name);
    if (!r) return r.error();
    container[a->name][s->name] = *r;
    return true;
  }
  if (v.is_null()) {
    container.erase(a->name);
    return true;
  }
  auto r = read_value(*a, v, shape.max_values);
  if (!r) return r.error();
  if (a->multi && append && container.contains(a->name)) {
    json& list = container[a->name];
    for (const auto& e : *r) {
      if (std::none_of(list.begin(), list.end(), [&](const json& x) { return same_element(x, e); })) list.push_back(e);
    }
    if (list.size() > shape.max_values) {
      return bad_value(std::string(a->name) + " has more than " + std::to_string(shape.max_values));
    }
  } else if (!a->multi && a->type == Type::kComplex && append && container.contains(a->name) &&
             container[a->name].is_object()) {
    container[a->name].update(*r);  // "add" to a complex attribute sets the sub-attributes it gives (RFC 7644 §3.5.2.1)
  } else {
    container[a->name] = *r;
  }
  return true;
}

// `keep_empty`: an empty list stays (a PUT's "members": [] clears them);
// otherwise it goes (nothing left after a PATCH).
Outcome<json> check(const Shape& shape, json doc, bool keep_empty) {
  if (doc.contains(kEnterpriseSchema) && doc[kEnterpriseSchema].empty()) doc.erase(kEnterpriseSchema);
  for (const auto& a : shape.core) {
    if (!keep_empty && a.multi && doc.contains(a.name) && doc[a.name].empty()) doc.erase(a.name);
  }
  auto it = doc.find(shape.required);
  if (it == doc.end() || !it->is_string() || it->get<std::string>().empty()) {
    return Error{400, "invalidValue", std::string(shape.required) + " is required"};
  }
  return doc;
}

// ---- filters ----

struct Token {
  enum Kind { kWord, kString, kOpen, kClose, kOpenBracket, kCloseBracket, kSub, kEnd } kind = kEnd;
  std::string text;
};

Error bad_filter(const std::string& detail) { return {400, "invalidFilter", detail}; }

Outcome<std::vector<Token>> tokenize(std::string_view s) {
  std::vector<Token> out;
  size_t i = 0;
  auto word_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == ':' || c == '.' || c == '_' || c == '-' ||
           c == '$' || c == '+';
  };
  while (i < s.size()) {
    char c = s[i];
    if (c == ' ' || c == '\t') {
      ++i;
    } else if (c == '(') {
      out.push_back({Token::kOpen, "("});
      ++i;
    } else if (c == ')') {
      out.push_back({Token::kClose, ")"});
      ++i;
    } else if (c == '[') {
      out.push_back({Token::kOpenBracket, "["});
      ++i;
    } else if (c == ']') {
      out.push_back({Token::kCloseBracket, "]"});
      ++i;
      if (i < s.size() && s[i] == '.') {
        size_t j = ++i;
        while (j < s.size() && word_char(s[j])) ++j;
        if (j == i) return bad_filter("'.' after ']' must name a sub-attribute");
        out.push_back({Token::kSub, std::string(s.substr(i, j - i))});
        i = j;
      }
    } else if (c == '"') {
      size_t j = i + 1;
      while (j < s.size() && s[j] != '"') j += s[j] == '\\' ? 2 : 1;
      if (j >= s.size()) return bad_filter("a string is not closed");
      json str = json::parse(s.substr(i, j - i + 1), nullptr, false);
      if (str.is_discarded() || !str.is_string()) return bad_filter("a string is not valid JSON");
      out.push_back({Token::kString, str.get<std::string>()});
      i = j + 1;
    } else if (word_char(c)) {
      size_t j = i;
      while (j < s.size() && word_char(s[j])) ++j;
      out.push_back({Token::kWord, std::string(s.substr(i, j - i))});
      i = j;
    } else {
      return bad_filter(std::string("unexpected character '") + c + "'");
    }
  }
  out.push_back({Token::kEnd, ""});
  return out;
}

}  // namespace

struct FilterNode {
  enum class Kind { kAnd, kOr, kNot, kCompare, kPresent, kValuePath } kind = Kind::kCompare;
  std::string attr;  // kCompare, kPresent, kValuePath: the attribute path (kValuePath: the multi-valued attribute)
  std::string op;    // eq ne co sw ew gt ge lt le
  json value;
  Filter left, right;  // kAnd, kOr; kNot and kValuePath use left (the inner filter)
  std::string sub;     // kValuePath: the sub-attribute compared after "]." (empty: any element matches)
};

namespace {

class Parser {
 public:
  explicit Parser(std::vector<Token> t) : t_(std::move(t)) {}
  Outcome<Filter> parse() {
    auto f = expr(0);
    if (!f) return f;
    if (peek().kind != Token::kEnd) return bad_filter("unexpected '" + peek().text + "'");
    return f;
  }

 private:
  const Token& peek() const { return t_[std::min(pos_, t_.size() - 1)]; }
  Token next() { return t_[std::min(pos_++, t_.size() - 1)]; }
  bool keyword(std::string_view w) const { return peek().kind == Token::kWord && iequals(peek().text, w); }

  Outcome<Filter> expr(int depth) {
    if (depth > kMaxFilterDepth) return bad_filter("nested too deeply");
    auto left = conj(depth);
    if (!left) return left;
    Filter f = *left;
    while (keyword("or")) {
      next();
      auto right = conj(depth);
      if (!right) return right;
      f = std::make_shared<FilterNode>(FilterNode{FilterNode::Kind::kOr, "", "", nullptr, f, *right, ""});
    }
    return f;
  }
  Outcome<Filter> conj(int depth) {
    auto left = unary(depth);
    if (!left) return left;
    Filter f = *left;
    while (keyword("and")) {
      next();
      auto right = unary(depth);
      if (!right) return right;
      f = std::make_shared<FilterNode>(FilterNode{FilterNode::Kind::kAnd, "", "", nullptr, f, *right, ""});
    }
    return f;
  }
  Outcome<Filter> unary(int depth) {
    if (keyword("not")) {
      next();
      if (peek().kind != Token::kOpen) return bad_filter("'not' must be followed by '('");
      auto inner = unary(depth + 1);
      if (!inner) return inner;
      return Filter(std::make_shared<FilterNode>(FilterNode{FilterNode::Kind::kNot, "", "", nullptr, *inner, {}, ""}));
    }
    if (peek().kind == Token::kOpen) {
      next();
      auto inner = expr(depth + 1);
      if (!inner) return inner;
      if (next().kind != Token::kClose) return bad_filter("')' expected");
      return inner;
    }
    if (peek().kind != Token::kWord) return bad_filter("an attribute name expected, not '" + peek().text + "'");
    std::string attr = next().text;
    if (peek().kind == Token::kOpenBracket) {
      next();
      auto inner = expr(depth + 1);
      if (!inner) return inner;
      if (next().kind != Token::kCloseBracket) return bad_filter("']' expected");
      FilterNode n{FilterNode::Kind::kValuePath, attr, "", nullptr, *inner, {}, ""};
      if (peek().kind == Token::kSub) {
        n.sub = next().text;
        auto cmp = comparison();
        if (!cmp) return cmp.error();
        n.op = cmp->first;
        n.value = cmp->second;
      }
      return Filter(std::make_shared<FilterNode>(std::move(n)));
    }
    if (keyword("pr")) {
      next();
      return Filter(
          std::make_shared<FilterNode>(FilterNode{FilterNode::Kind::kPresent, attr, "pr", nullptr, {}, {}, ""}));
    }
    auto cmp = comparison();
    if (!cmp) return cmp.error();
    return Filter(std::make_shared<FilterNode>(
        FilterNode{FilterNode::Kind::kCompare, attr, cmp->first, cmp->second, {}, {}, ""}));
  }
  Outcome<std::pair<std::string, json>> comparison() {
    static const char* const kOps[] = {"eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"};
    if (peek().kind != Token::kWord) return bad_filter("a comparison operator expected");
    std::string op = lower(next().text);
    if (std::find(std::begin(kOps), std::end(kOps), op) == std::end(kOps)) {
      return bad_filter("unknown operator '" + op + "'");
    }
    Token v = next();
    if (v.kind == Token::kString) return std::pair<std::string, json>(op, json(v.text));
    if (v.kind == Token::kWord) {
      if (iequals(v.text, "true")) return std::pair<std::string, json>(op, json(true));
      if (iequals(v.text, "false")) return std::pair<std::string, json>(op, json(false));
      if (iequals(v.text, "null")) return std::pair<std::string, json>(op, json(nullptr));
      json num = json::parse(v.text, nullptr, false);
      if (!num.is_discarded() && num.is_number()) return std::pair<std::string, json>(op, num);
    }
    return bad_filter("a value expected after '" + op + "'");
  }

  std::vector<Token> t_;
  size_t pos_ = 0;
};

// The values at `path` ("userName", "name.givenName", "emails.value",
// "urn:...:enterprise:2.0:User:department", "meta.lastModified") in `obj`,
// attribute names in any case; a list is flattened.
std::vector<json> values_at(const json& obj, std::string_view path) {
  Named n = split_urn(path);
  const json* base = &obj;
  if (n.enterprise) {
    auto it = obj.find(kEnterpriseSchema);
    if (it == obj.end()) return {};
    base = &*it;
    if (n.whole_extension) return {*it};
  }
  std::vector<json> cur = {*base};
  std::string rest = n.name;
  while (!rest.empty()) {
    size_t dot = rest.find('.');
    std::string part = rest.substr(0, dot);
    rest = dot == std::string::npos ? "" : rest.substr(dot + 1);
    std::vector<json> next;
    for (const auto& v : cur) {
      if (!v.is_object()) continue;
      for (const auto& [k, x] : v.items()) {
        if (!iequals(k, part)) continue;
        if (x.is_array()) {
          for (const auto& e : x) next.push_back(e);
        } else {
          next.push_back(x);
        }
      }
    }
    cur = std::move(next);
  }
  return cur;
}

bool case_exact(std::string_view path) { return iequals(path, "externalId") || iequals(path, "id"); }

bool compare(const json& have, const std::string& op, const json& want, bool exact) {
  if (have.is_string() && want.is_string()) {
    std::string a = have.get<std::string>(), b = want.get<std::string>();
    if (!exact) {
      a = lower(a);
      b = lower(b);
    }
    if (op == "eq") return a == b;
    if (op == "ne") return a != b;
    if (op == "co") return a.find(b) != std::string::npos;
    if (op == "sw") return a.rfind(b, 0) == 0;
    if (op == "ew") return a.size() >= b.size() && a.compare(a.size() - b.size(), b.size(), b) == 0;
    if (op == "gt") return a > b;
    if (op == "ge") return a >= b;
    if (op == "lt") return a < b;
    if (op == "le") return a <= b;
    return false;
  }
  if (op == "eq") return have == want;
  if (op == "ne") return have != want;
  if (have.is_number() && want.is_number()) {
    double a = have.get<double>(), b = want.get<double>();
    if (op == "gt") return a > b;
    if (op == "ge") return a >= b;
    if (op == "lt") return a < b;
    if (op == "le") return a <= b;
  }
  return false;
}

bool eval(const FilterNode& f, const json& obj) {
  switch (f.kind) {
    case FilterNode::Kind::kAnd: return eval(*f.left, obj) && eval(*f.right, obj);
    case FilterNode::Kind::kOr: return eval(*f.left, obj) || eval(*f.right, obj);
    case FilterNode::Kind::kNot: return !eval(*f.left, obj);
    case FilterNode::Kind::kPresent: {
      auto vs = values_at(obj, f.attr);
      return std::any_of(vs.begin(), vs.end(), [](const json& v) {
        return !v.is_null() && !(v.is_string() && v.get<std::string>().empty()) && !(v.is_array() && v.empty());
      });
    }
    case FilterNode::Kind::kCompare: {
      auto vs = values_at(obj, f.attr);
      if (f.op == "ne" && vs.empty()) return true;
      const bool exact = case_exact(f.attr);
      return std::any_of(vs.begin(), vs.end(), [&](const json& v) { return compare(v, f.op, f.value, exact); });
    }
    case FilterNode::Kind::kValuePath: {
      for (const auto& element : values_at(obj, f.attr)) {
        if (!eval(*f.left, element)) continue;
        if (f.sub.empty()) return true;
        for (const auto& v : values_at(element, f.sub)) {
          if (compare(v, f.op, f.value, false)) return true;
        }
      }
      return false;
    }
  }
  return false;
}

// ---- PATCH paths ----

struct Path {
  bool enterprise = false;
  const Attr* attr = nullptr;
  Filter filter;              // a value filter on a multi-valued attribute
  const Attr* sub = nullptr;  // a sub-attribute
};

Error bad_path(const std::string& detail) { return {400, "invalidPath", detail}; }

Outcome<Path> parse_path(const Shape& shape, const std::string& text) {
  if (text.size() > kMaxFilterBytes) return bad_path("the path is too long");
  Named n = split_urn(text);
  if (n.unknown_urn) return bad_path("unknown schema in path " + text);
  if (n.whole_extension || (n.enterprise && !shape.enterprise)) {
    return bad_path("path " + text + " names the extension, not an attribute");
  }
  Path p;
  p.enterprise = n.enterprise;
  std::string rest = n.name;
  size_t cut = rest.find_first_of("[.");
  std::string name = rest.substr(0, cut);
  p.attr = find_attr(n.enterprise ? enterprise_attrs() : shape.core, name);
  if (p.attr == nullptr) return bad_path("no attribute '" + name + "'");
  std::string after = cut == std::string::npos ? "" : rest.substr(cut);
  if (!after.empty() && after[0] == '[') {
    if (!p.attr->multi) return bad_path(std::string(p.attr->name) + " is not multi-valued: no filter applies");
    // The closing bracket outside any string.
    size_t i = 1;
    bool in_string = false;
    for (; i < after.size(); ++i) {
      if (in_string && after[i] == '\\') {
        ++i;
      } else if (after[i] == '"') {
        in_string = !in_string;
      } else if (!in_string && after[i] == ']') {
        break;
      }
    }
    if (i >= after.size()) return bad_path("']' missing in path " + text);
    auto f = parse_filter(after.substr(1, i - 1));
    if (!f) return Error{400, "invalidPath", "path " + text + ": " + f.error().detail};
    p.filter = *f;
    after = after.substr(i + 1);
  }
  if (!after.empty()) {
    if (after[0] != '.' || p.attr->type != Type::kComplex) return bad_path("cannot read path " + text);
    p.sub = find_attr(p.attr->subs, after.substr(1));
    if (p.sub == nullptr) return bad_path("no sub-attribute '" + after.substr(1) + "' of " + p.attr->name);
  }
  return p;
}

// A new element for a value filter that matched nothing: what its
// `sub eq "x"` conditions (joined by "and") say.
json element_from_filter(const FilterNode& f) {
  json e = json::object();
  std::function<void(const FilterNode&)> walk = [&](const FilterNode& n) {
    if (n.kind == FilterNode::Kind::kAnd) {
      walk(*n.left);
      walk(*n.right);
    } else if (n.kind == FilterNode::Kind::kCompare && n.op == "eq") {
      e[n.attr] = n.value;
    }
  };
  walk(f);
  return e;
}

Outcome<bool> patch_one(const Shape& shape, json& doc, const std::string& op, const json& operation) {
  auto path_it = std::find_if(operation.items().begin(), operation.items().end(),
                              [](const auto& kv) { return iequals(kv.key(), "path"); });
  auto value_it = std::find_if(operation.items().begin(), operation.items().end(),
                               [](const auto& kv) { return iequals(kv.key(), "value"); });
  const bool has_value = value_it != operation.items().end();
  const json value = has_value ? value_it.value() : json();
  std::string path_text;
  if (path_it != operation.items().end()) {
    if (!path_it.value().is_string()) return bad_path("path must be a string");
    path_text = path_it.value().get<std::string>();
  }
  if (path_text.empty()) {
    if (op == "remove") return Error{400, "noTarget", "remove needs a path"};
    // Okta: {"op":"replace","value":{"active":false}}.
    if (!value.is_object()) return bad_value(op + " without a path needs an object of attributes as its value");
    for (const auto& [k, v] : value.items()) {
      auto r = set_attribute(shape, doc, k, v, op == "add");
      if (!r) return r;
    }
    return true;
  }
  auto path = parse_path(shape, path_text);
  if (!path) return path.error();
  if (op != "remove" && !has_value) return bad_value(op + " " + path_text + " needs a value");
  json& container = path->enterprise ? doc[kEnterpriseSchema] : doc;
  const Attr& a = *path->attr;
  if (!path->filter) {
    if (path->sub == nullptr) {
      if (op == "remove") {
        if (a.multi && value.is_array() && container.contains(a.name)) {
          // Remove the listed values only (as providers do for members).
          json& list = container[a.name];
          for (const auto& v : value) {
            const json* want = v.is_object() && v.contains("value") ? &v["value"] : &v;
            list.erase(
                std::remove_if(list.begin(), list.end(),
                               [&](const json& e) { return e.is_object() && e.value("value", json()) == *want; }),
                list.end());
          }
          return true;
        }
        container.erase(a.name);
        return true;
      }
      return set_attribute(shape, doc,
                           std::string(path->enterprise ? kEnterpriseSchema + std::string(":") : "") + a.name, value,
                           op == "add");
    }
    // name.givenName, manager.value, or emails.value (every element).
    if (!a.multi) {
      if (op == "remove") {
        if (container.contains(a.name)) container[a.name].erase(path->sub->name);
        return true;
      }
      auto r = read_single(*path->sub, value, std::string(a.name) + "." + path->sub->name);
      if (!r) return r.error();
      container[a.name][path->sub->name] = *r;
      return true;
    }
    json& list = container[a.name];
    if (!list.is_array()) list = json::array();
    if (op == "remove") {
      for (auto& e : list) e.erase(path->sub->name);
      return true;
    }
    auto r = read_single(*path->sub, value, std::string(a.name) + "." + path->sub->name);
    if (!r) return r.error();
    if (list.empty()) list.push_back(json::object());
    for (auto& e : list) e[path->sub->name] = *r;
    return true;
  }
  // A value filter: emails[type eq "work"] or emails[type eq "work"].value.
  json& list = container[a.name];
  if (!list.is_array()) list = json::array();
  std::vector<size_t> hits;
  for (size_t i = 0; i < list.size(); ++i) {
    if (eval(*path->filter, list[i])) hits.push_back(i);
  }
  if (op == "remove") {
    for (auto it = hits.rbegin(); it != hits.rend(); ++it) {
      if (path->sub != nullptr) {
        list[*it].erase(path->sub->name);
      } else {
        list.erase(list.begin() + static_cast<std::ptrdiff_t>(*it));
      }
    }
    if (list.empty()) container.erase(a.name);
    return true;
  }
  json element_value;
  if (path->sub != nullptr) {
    auto r = read_single(*path->sub, value, std::string(a.name) + "." + path->sub->name);
    if (!r) return r.error();
    element_value = *r;
  } else {
    auto r = read_single(a, value, a.name);
    if (!r) return r.error();
    element_value = *r;
  }
  if (hits.empty()) {
    // Microsoft Entra ID replaces emails[type eq "work"].value on users that
    // have no work address yet: the element is made from the filter.
    json e = element_from_filter(*path->filter);
    auto checked = read_single(a, e, a.name);
    if (!checked) return checked.error();
    e = *checked;
    if (path->sub != nullptr) {
      e[path->sub->name] = element_value;
    } else {
      e.update(element_value);
    }
    list.push_back(e);
    if (list.size() > shape.max_values) {
      return bad_value(std::string(a.name) + " has more than " + std::to_string(shape.max_values));
    }
    return true;
  }
  for (size_t i : hits) {
    if (path->sub != nullptr) {
      list[i][path->sub->name] = element_value;
    } else if (op == "add") {
      list[i].update(element_value);
    } else {
      list[i] = element_value;
    }
  }
  return true;
}

json describe(const Attr& a, std::string_view required = "") {
  json j = {{"name", a.name},
            {"type", a.type == Type::kString    ? "string"
                     : a.type == Type::kBoolean ? "boolean"
                                                : "complex"},
            {"multiValued", a.multi},
            {"description", a.description},
            {"required", !required.empty() && required == a.name},
            {"caseExact", a.case_exact},
            {"mutability", "readWrite"},
            {"returned", "default"},
            {"uniqueness", !required.empty() && required == a.name ? "server" : "none"}};
  if (!a.subs.empty()) {
    json subs = json::array();
    for (const auto& s : a.subs) subs.push_back(describe(s));
    j["subAttributes"] = subs;
  }
  return j;
}

std::string str_at(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

json error_json(const Error& e) {
  json j = {{"schemas", json::array({kErrorSchema})}, {"status", std::to_string(e.status)}, {"detail", e.detail}};
  if (!e.type.empty()) j["scimType"] = e.type;
  return j;
}

namespace {

Outcome<json> read_resource(const Shape& shape, const json& in) {
  if (!in.is_object()) return Error{400, "invalidSyntax", "a resource must be a JSON object"};
  json doc = json::object();
  for (const auto& [k, v] : in.items()) {
    if (iequals(k, "schemas") || iequals(k, "id") || iequals(k, "meta")) continue;
    if (v.is_null()) continue;
    auto r = set_attribute(shape, doc, k, v, false);
    if (!r) return r.error();
  }
  return check(shape, std::move(doc), true);
}

Outcome<json> patch_resource(const Shape& shape, const json& resource, const json& patch) {
  if (!patch.is_object()) return Error{400, "invalidSyntax", "a PatchOp must be a JSON object"};
  auto ops_it = std::find_if(patch.items().begin(), patch.items().end(),
                             [](const auto& kv) { return iequals(kv.key(), "Operations"); });
  if (ops_it == patch.items().end() || !ops_it.value().is_array()) {
    return Error{400, "invalidSyntax", "a PatchOp needs an Operations list"};
  }
  const json& ops = ops_it.value();
  if (ops.size() > kMaxPatchOps) {
    return Error{400, "invalidSyntax", "more than " + std::to_string(kMaxPatchOps) + " operations"};
  }
  json doc = resource;
  for (const auto& operation : ops) {
    if (!operation.is_object()) return Error{400, "invalidSyntax", "an operation must be a JSON object"};
    auto op_it = std::find_if(operation.items().begin(), operation.items().end(),
                              [](const auto& kv) { return iequals(kv.key(), "op"); });
    if (op_it == operation.items().end() || !op_it.value().is_string()) {
      return Error{400, "invalidSyntax", "an operation needs \"op\""};
    }
    // Microsoft Entra ID sends "Add", "Replace" and "Remove".
    std::string op = lower(op_it.value().get<std::string>());
    if (op != "add" && op != "replace" && op != "remove") {
      return Error{400, "invalidSyntax", "unknown op '" + op_it.value().get<std::string>() + "'"};
    }
    auto r = patch_one(shape, doc, op, operation);
    if (!r) return r.error();
  }
  return check(shape, std::move(doc), false);
}

}  // namespace

Outcome<json> read_user(const json& in) { return read_resource(user_shape(), in); }
Outcome<json> read_group(const json& in) { return read_resource(group_shape(), in); }
Outcome<json> apply_patch(const json& user, const json& patch) { return patch_resource(user_shape(), user, patch); }
Outcome<json> apply_group_patch(const json& group, const json& patch) {
  return patch_resource(group_shape(), group, patch);
}

json merge_put(const json& current, const json& replacement) {
  json out = current;
  for (const auto& [k, v] : replacement.items()) {
    if (v.is_array() && v.empty()) {
      out.erase(k);  // given, and empty: cleared
    } else if (k == kEnterpriseSchema && out.contains(k)) {
      out[k].update(v);
    } else {
      out[k] = v;
    }
  }
  return out;
}

Outcome<std::string> person_name_for(const std::string& name) {
  std::string n = lower(name.substr(0, name.find('@')));
  if (!is_valid_name(n)) {
    return Error{400, "invalidValue",
                 "userName " + name + " gives the person name '" + n + "', which is not 1-64 of a-z 0-9 . _ -"};
  }
  return n;
}

std::string user_name(const json& user) { return str_at(user, "userName"); }
std::string external_id(const json& user) { return str_at(user, "externalId"); }

std::optional<bool> active(const json& user) {
  auto it = user.find("active");
  if (it == user.end() || !it->is_boolean()) return std::nullopt;
  return it->get<bool>();
}

std::string work_email(const json& user) {
  auto it = user.find("emails");
  if (it == user.end() || !it->is_array() || it->empty()) return "";
  for (const auto& e : *it) {
    if (iequals(str_at(e, "type"), "work") && !str_at(e, "value").empty()) return str_at(e, "value");
  }
  for (const auto& e : *it) {
    if (e.value("primary", false) && !str_at(e, "value").empty()) return str_at(e, "value");
  }
  for (const auto& e : *it) {
    if (!str_at(e, "value").empty()) return str_at(e, "value");
  }
  return "";
}

std::string employee_number(const json& user) {
  auto it = user.find(kEnterpriseSchema);
  return it == user.end() ? "" : str_at(*it, "employeeNumber");
}

std::string department(const json& user) {
  auto it = user.find(kEnterpriseSchema);
  return it == user.end() ? "" : str_at(*it, "department");
}

std::vector<std::string> member_ids(const json& group) {
  std::vector<std::string> out;
  auto it = group.find("members");
  if (it == group.end() || !it->is_array()) return out;
  for (const auto& m : *it) {
    if (!str_at(m, "value").empty()) out.push_back(str_at(m, "value"));
  }
  return out;
}

std::string display_name(const json& group) { return str_at(group, "displayName"); }

Outcome<Filter> parse_filter(std::string_view text) {
  if (text.size() > kMaxFilterBytes) return bad_filter("longer than " + std::to_string(kMaxFilterBytes) + " bytes");
  auto tokens = tokenize(text);
  if (!tokens) return tokens.error();
  if (tokens->size() == 1) return bad_filter("empty");
  return Parser(std::move(*tokens)).parse();
}

bool matches(const Filter& f, const json& resource) { return f && eval(*f, resource); }

std::optional<IndexedLookup> indexed_lookup(const Filter& f) {
  if (!f) return std::nullopt;
  const FilterNode& n = *f;
  if (n.kind == FilterNode::Kind::kCompare && n.op == "eq" && n.value.is_string()) {
    const std::string v = n.value.get<std::string>();
    std::string attr = split_urn(n.attr).name;
    if (split_urn(n.attr).enterprise) return std::nullopt;
    if (iequals(attr, "userName")) return IndexedLookup{IndexedLookup::Key::kUserName, v};
    if (iequals(attr, "externalId")) return IndexedLookup{IndexedLookup::Key::kExternalId, v};
    if (iequals(attr, "emails.value")) return IndexedLookup{IndexedLookup::Key::kEmail, v};
  }
  if (n.kind == FilterNode::Kind::kValuePath && iequals(n.attr, "emails") && iequals(n.sub, "value") && n.op == "eq" &&
      n.value.is_string()) {
    const FilterNode& in = *n.left;
    if (in.kind == FilterNode::Kind::kCompare && in.op == "eq" && iequals(in.attr, "type") &&
        in.value == json("work")) {
      return IndexedLookup{IndexedLookup::Key::kEmail, n.value.get<std::string>()};
    }
  }
  return std::nullopt;
}

std::optional<std::string> display_name_lookup(const Filter& f) {
  if (!f || f->kind != FilterNode::Kind::kCompare || f->op != "eq" || !f->value.is_string()) return std::nullopt;
  if (!iequals(split_urn(f->attr).name, "displayName")) return std::nullopt;
  return f->value.get<std::string>();
}

json service_provider_config_json(const std::string& base, int max_results) {
  return {
      {"schemas", json::array({"urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"})},
      {"documentationUri", "https://github.com/bastion/bastion#scim"},
      {"patch", {{"supported", true}}},
      {"bulk", {{"supported", false}, {"maxOperations", 0}, {"maxPayloadSize", 0}}},
      {"filter", {{"supported", true}, {"maxResults", max_results}}},
      {"changePassword", {{"supported", false}}},
      {"sort", {{"supported", false}}},
      {"etag", {{"supported", true}}},
      {"authenticationSchemes",
       json::array({{{"type", "oauthbearertoken"},
                     {"name", "Bearer token"},
                     {"description", "A token from 'bastionctl scim token add NAME', sent as Authorization: Bearer"},
                     {"primary", true}}})},
      {"meta", {{"resourceType", "ServiceProviderConfig"}, {"location", base + "/ServiceProviderConfig"}}}};
}

json resource_types_json(const std::string& base) {
  json user = {{"schemas", json::array({"urn:ietf:params:scim:schemas:core:2.0:ResourceType"})},
               {"id", "User"},
               {"name", "User"},
               {"endpoint", "/Users"},
               {"description", "A person who may use the gateway"},
               {"schema", kUserSchema},
               {"schemaExtensions", json::array({{{"schema", kEnterpriseSchema}, {"required", false}}})},
               {"meta", {{"resourceType", "ResourceType"}, {"location", base + "/ResourceTypes/User"}}}};
  json group = {{"schemas", json::array({"urn:ietf:params:scim:schemas:core:2.0:ResourceType"})},
                {"id", "Group"},
                {"name", "Group"},
                {"endpoint", "/Groups"},
                {"description", "A group of users; [scim.groups] maps its displayName to roles"},
                {"schema", kGroupSchema},
                {"meta", {{"resourceType", "ResourceType"}, {"location", base + "/ResourceTypes/Group"}}}};
  return json::array({user, group});
}

json schemas_json(const std::string& base) {
  auto schema = [&](const char* id, const char* name, const std::vector<Attr>& attrs, const char* required) {
    json list = json::array();
    for (const auto& a : attrs) list.push_back(describe(a, required));
    return json{{"schemas", json::array({"urn:ietf:params:scim:schemas:core:2.0:Schema"})},
                {"id", id},
                {"name", name},
                {"attributes", list},
                {"meta", {{"resourceType", "Schema"}, {"location", base + "/Schemas/" + id}}}};
  };
  return json::array({schema(kUserSchema, "User", core_attrs(), "userName"),
                      schema(kEnterpriseSchema, "EnterpriseUser", enterprise_attrs(), ""),
                      schema(kGroupSchema, "Group", group_attrs(), "displayName")});
}

}  // namespace bastion::policy::scim
