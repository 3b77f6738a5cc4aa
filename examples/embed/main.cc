// Loads a compiled module, runs it once on an input of ones and prints each
// output's shape. Usage: embed_example model.octet
#include <iostream>

#include "octet/runtime/module.h"

int main(int argc, char** argv) {
  if (argc != 2) return std::cerr << "usage: " << argv[0] << " model.octet\n", 2;
  auto module = octet::runtime::Module::Load(argv[1]);
  if (!module) return std::cerr << module.status().ToString() << "\n", 1;
  auto session = octet::runtime::Session::Create(*module);
  if (!session) return std::cerr << session.status().ToString() << "\n", 1;

  std::map<std::string, octet::Tensor> inputs;
  for (const auto& info : (*module)->inputs()) {
    std::vector<int64_t> dims;  // symbolic dims (the batch "N") get 1
    for (const auto& d : info.shape.dims()) dims.push_back(d.is_static() ? d.value() : 1);
    octet::Tensor t(info.dtype, dims);
    for (int64_t i = 0; i < t.numel(); ++i) t.SetFromDouble(i, 1.0);
    inputs.emplace(info.name, std::move(t));
  }
  auto outputs = (*session)->Run(inputs);
  if (!outputs) return std::cerr << outputs.status().ToString() << "\n", 1;
  for (const auto& [name, tensor] : *outputs)
    std::cout << name << " " << tensor.ShapeString() << "\n";
}
