// A CommonJS loader for the test pages. JsSIP is published as CommonJS modules only (no
// browser bundle); rather than a bundler in the test set-up, the page loads its modules
// from the page server's /node_modules/ with synchronous requests, resolving require()
// as Node does for the cases JsSIP and its dependencies use: relative paths (with .js,
// .json or /index.js), and packages by their package.json "browser" or "main" field.
const cache = new Map();

function get(path) {
  const xhr = new XMLHttpRequest();
  xhr.open("GET", path, false);
  xhr.send();
  return xhr.status === 200 ? xhr.responseText : null;
}

function join(dir, rel) {
  const parts = dir.split("/");
  for (const piece of rel.split("/")) {
    if (piece === "..") parts.pop();
    else if (piece !== "." && piece !== "") parts.push(piece);
  }
  return parts.join("/");
}

function file(base) {
  for (const candidate of [base, base + ".js", base + ".json", base + "/index.js"]) {
    if (cache.has(candidate)) return [candidate, null];
    if (candidate.endsWith("/")) continue;
    const text = get(candidate);
    if (text !== null && !text.startsWith("<!DOCTYPE")) return [candidate, text];
  }
  throw new Error("cannot find module " + base);
}

function resolve(from, name) {
  if (name.startsWith("./") || name.startsWith("../")) {
    return file(join(from.slice(0, from.lastIndexOf("/")), name));
  }
  const root = "/node_modules/" + name;
  const pkg = JSON.parse(get(root + "/package.json"));
  const entry = typeof pkg.browser === "string" ? pkg.browser : pkg.main || "index.js";
  return file(join(root, entry.replace(/\/$/, "/index")));
}

function load(path, text) {
  if (cache.has(path)) return cache.get(path).exports;
  const module = { exports: {} };
  cache.set(path, module);
  if (path.endsWith(".json")) {
    module.exports = JSON.parse(text);
  } else {
    const require = (name) => load(...resolve(path, name));
    new Function("require", "module", "exports", text + "\n//# sourceURL=" + path)(
      require, module, module.exports);
  }
  return module.exports;
}

export function requirePackage(name) {
  return load(...resolve("/", name));
}
