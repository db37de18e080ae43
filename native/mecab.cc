// MeCab word splitting through libmecab (Debian libmecab-dev), its own addon
// (jabert_mecab.node): the tokenizers need no compute engine. They only need
// surface forms, in order, for a given dictionary.
#include <napi.h>
#include <mecab.h>
#include <string>
#include <vector>

namespace jb {

namespace {
std::vector<mecab_t*>& taggers() { static std::vector<mecab_t*> v; return v; }

mecab_t* get(const Napi::CallbackInfo& info, size_t i, const char* op) {
  if (info.Length() <= i || !info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(op) + ": handle must be a number");
  int64_t h = info[i].As<Napi::Number>().Int64Value();
  if (h < 0 || h >= (int64_t)taggers().size() || !taggers()[h]) throw Napi::Error::New(info.Env(), std::string(op) + ": no open MeCab tagger " + std::to_string(h));
  return taggers()[h];
}
}  // namespace

// mecabOpen(argv) -> handle; argv as for the mecab command (["mecab", "-d", DIR, "-r", "/dev/null"]),
// one element per argument so that paths may hold spaces
Napi::Value MecabOpen(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsArray()) throw Napi::TypeError::New(info.Env(), "mecabOpen: argv must be an array of strings");
  Napi::Array a = info[0].As<Napi::Array>();
  std::vector<std::string> args;
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value v = a.Get(i);
    if (!v.IsString()) throw Napi::TypeError::New(info.Env(), "mecabOpen: argv must be an array of strings");
    args.push_back(v.As<Napi::String>().Utf8Value());
    if (args.back().find('\0') != std::string::npos) throw Napi::TypeError::New(info.Env(), "mecabOpen: an argument contains a NUL character");
  }
  std::vector<char*> argv;
  for (auto& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);
  mecab_t* m = mecab_new((int)args.size(), argv.data());
  if (!m) {
    std::string why = mecab_strerror(nullptr) ? mecab_strerror(nullptr) : "";
    std::string shown;
    for (size_t i = 1; i < args.size(); i++) shown += (i > 1 ? " " : "") + args[i];
    throw Napi::Error::New(info.Env(), "MeCab could not open a tagger with \"" + shown + "\": " + (why.empty() ? "no reason given (is the dictionary folder complete and readable?)" : why));
  }
  taggers().push_back(m);
  return Napi::Number::New(info.Env(), (double)(taggers().size() - 1));
}

// mecabSurfaces(handle, text) -> the surface forms of the best path joined by
// NUL characters (one JS string instead of one per token: far fewer crossings)
Napi::Value MecabSurfaces(const Napi::CallbackInfo& info) {
  mecab_t* m = get(info, 0, "mecabSurfaces");
  if (info.Length() < 2 || !info[1].IsString()) throw Napi::TypeError::New(info.Env(), "mecabSurfaces: text must be a string");
  std::string text = info[1].As<Napi::String>().Utf8Value();
  std::string out;
  if (text.empty()) return Napi::String::New(info.Env(), out);
  if (text.find('\0') != std::string::npos) throw Napi::Error::New(info.Env(), "mecabSurfaces: the text contains a NUL character");
  const mecab_node_t* node = mecab_sparse_tonode2(m, text.data(), text.size());
  if (!node) throw Napi::Error::New(info.Env(), std::string("MeCab failed: ") + mecab_strerror(m));
  out.reserve(text.size() * 2);
  for (; node; node = node->next) {
    if (node->stat == MECAB_BOS_NODE || node->stat == MECAB_EOS_NODE) continue;
    if (!out.empty()) out.push_back('\0');
    out.append(node->surface, node->length);
  }
  return Napi::String::New(info.Env(), out.data(), out.size());
}

Napi::Value MecabClose(const Napi::CallbackInfo& info) {
  mecab_t* m = get(info, 0, "mecabClose");
  int64_t h = info[0].As<Napi::Number>().Int64Value();
  mecab_destroy(m);
  taggers()[h] = nullptr;
  return info.Env().Undefined();
}

}  // namespace jb

namespace {
Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("mecabOpen", Napi::Function::New(env, jb::MecabOpen, "mecabOpen"));
  exports.Set("mecabSurfaces", Napi::Function::New(env, jb::MecabSurfaces, "mecabSurfaces"));
  exports.Set("mecabClose", Napi::Function::New(env, jb::MecabClose, "mecabClose"));
  return exports;
}
}  // namespace

NODE_API_MODULE(jabert_mecab, Init)
