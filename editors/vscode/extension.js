// Start `vitalskills lsp` for .vtl files and task YAML files, and restart it when the
// settings that make up its command line change.
"use strict";

const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function serverOptions() {
  const config = vscode.workspace.getConfiguration("vitalskills");
  const [command, ...words] = config.get("command", ["vitalskills"]);
  const skills = config.get("skills", []).flatMap((dir) => ["--skills", dir]);
  // No `transport`: the client then talks over stdio without adding `--stdio`.
  return { command, args: [...words, "lsp", ...skills] };
}

function clientOptions() {
  const config = vscode.workspace.getConfiguration("vitalskills");
  return {
    documentSelector: [
      { scheme: "file", language: "vtl" },
      { scheme: "untitled", language: "vtl" },
      { scheme: "file", language: "yaml", pattern: config.get("yamlFiles") },
    ],
  };
}

async function start() {
  client = new LanguageClient("vitalskills", "vitalskills", serverOptions(), clientOptions());
  await client.start();
}

async function restart() {
  if (client) {
    await client.stop();
  }
  await start();
}

async function activate(context) {
  context.subscriptions.push(
    vscode.commands.registerCommand("vitalskills.restartServer", restart),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration("vitalskills")) {
        return restart();
      }
      return undefined;
    }),
  );
  await start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
