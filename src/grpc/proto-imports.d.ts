// The .proto files imported `with { type: "file" }` (proto-files.ts): each import is the path of
// the file, inside the compiled executable or in proto/. Types only.

declare module "*.proto" {
  const path: string;
  export default path;
}
