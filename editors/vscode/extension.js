// The cramnet extension: starts `cramnet lsp` (or the command in the setting
// `cramnet.server.command`) for .cram files and lets the language client do the rest.
"use strict";

const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const [command, ...args] = vscode.workspace.getConfiguration("cramnet").get("server.command");
  const serverOptions = { command, args, transport: TransportKind.stdio };
  const clientOptions = {
    documentSelector: [
      { scheme: "file", language: "cram" },
      { scheme: "untitled", language: "cram" },
    ],
  };
  client = new LanguageClient("cramnet", "cramnet language server", serverOptions, clientOptions);
  client.start().catch((error) => {
    vscode.window.showErrorMessage(
      `cramnet: could not start \`${[command, ...args].join(" ")}\` (${error.message}). ` +
        "Install cramnet with its `lsp` extra, or set cramnet.server.command to its full path.",
    );
  });
  context.subscriptions.push({ dispose: () => client && client.stop() });
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
