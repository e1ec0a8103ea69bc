// The dashboard's browser files, imported as text (`with { type: "text" }`) so that the compiled
// executable carries them: the types of those imports. No code.

declare module "*.css" {
  const text: string;
  export default text;
}

declare module "*/dashboard/app.js" {
  const text: string;
  export default text;
}
