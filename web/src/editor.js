// editor.js - the script editor of the job form: CodeMirror 6 with the
// highlighting of the job's language (SQL for DuckDB and SQLite, Python,
// Bash, Octave). Loaded only by the job form, so other pages do not pay
// for it. Themed by the page's own colours (CSS variables), light or dark.
import { EditorState, Compartment } from '@codemirror/state';
import { EditorView, keymap, lineNumbers, highlightActiveLine, drawSelection, placeholder as ph } from '@codemirror/view';
import { defaultKeymap, history, historyKeymap, indentWithTab } from '@codemirror/commands';
import { syntaxHighlighting, HighlightStyle, StreamLanguage, indentOnInput, bracketMatching } from '@codemirror/language';
import { tags } from '@lezer/highlight';
import { sql, SQLite, StandardSQL } from '@codemirror/lang-sql';
import { python } from '@codemirror/lang-python';
import { shell } from '@codemirror/legacy-modes/mode/shell';
import { octave } from '@codemirror/legacy-modes/mode/octave';

const style = HighlightStyle.define([
	{ tag: tags.keyword, class: 'cm-kw' },
	{ tag: [tags.string, tags.special(tags.string)], class: 'cm-str' },
	{ tag: [tags.number, tags.bool, tags.null], class: 'cm-num' },
	{ tag: [tags.comment, tags.lineComment, tags.blockComment], class: 'cm-com' },
	{ tag: [tags.function(tags.variableName), tags.function(tags.propertyName)], class: 'cm-fn' },
	{ tag: [tags.operator, tags.punctuation], class: 'cm-op' },
	{ tag: [tags.typeName, tags.className, tags.definition(tags.variableName)], class: 'cm-type' },
]);

export function languageOf(app) {
	switch (app) {
		case 'duckdb':
			return sql({ dialect: StandardSQL, upperCaseKeywords: true });
		case 'sqlite':
			return sql({ dialect: SQLite, upperCaseKeywords: true });
		case 'python':
		case 'jupyter':
			return python();
		case 'bash':
		case 'sh':
			return StreamLanguage.define(shell);
		case 'octave':
			return StreamLanguage.define(octave);
		default:
			return [];
	}
}

// Inside the editor's shadow root: CodeMirror's own styles arrive as a
// constructed style sheet there (style-mod adopts one into shadow roots),
// which the page's Content-Security-Policy allows, where a <style> element
// in the document would need 'unsafe-inline'. The page's colours reach in
// through inherited CSS variables.
const EDITOR_CSS = `
:host { display: block; }
.cm-editor { min-height: 12rem; max-height: 60vh; background: var(--panel); color: var(--text); }
.cm-editor.cm-focused { outline: 3px solid var(--focus); outline-offset: 2px; }
.cm-scroller { font-family: ui-monospace, 'DejaVu Sans Mono', Menlo, Consolas, monospace; font-size: 0.9rem; line-height: 1.5; }
.cm-content { caret-color: var(--text); }
.cm-gutters { background: var(--code); color: var(--muted); border-right: 1px solid var(--line); }
.cm-activeLine { background: color-mix(in srgb, var(--accent) 7%, transparent) !important; }
.cm-activeLineGutter { background: color-mix(in srgb, var(--accent) 14%, transparent) !important; color: var(--text); }
.cm-selectionBackground, .cm-focused .cm-selectionBackground { background: color-mix(in srgb, var(--accent) 30%, transparent) !important; }
.cm-placeholder { color: var(--muted); }
.cm-kw { color: #8250df; font-weight: 600; }
.cm-str { color: #0a3069; }
.cm-num { color: #0550ae; }
.cm-com { color: #57606a; font-style: italic; }
.cm-fn { color: #953800; }
.cm-type { color: #116329; }
@media (prefers-color-scheme: dark) {
  .cm-kw { color: #d2a8ff; } .cm-str { color: #a5d6ff; } .cm-num { color: #79c0ff; }
  .cm-com { color: #9da7b3; } .cm-fn { color: #ffa657; } .cm-type { color: #7ee787; }
  .cm-cursor { border-left-color: var(--text); }
}
`;

/*
 * createEditor(parent, {doc, app, label, onChange}) -> {setApp(app),
 * setDoc(text), focus(), destroy()}. The editing surface is labelled for
 * screen readers with label.
 */
export function createEditor(parent, { doc = '', app = '', label = 'Script', placeholder = '', onChange }) {
	const lang = new Compartment();
	const shadow = parent.shadowRoot || parent.attachShadow({ mode: 'open' });
	const sheet = new CSSStyleSheet();
	sheet.replaceSync(EDITOR_CSS);
	shadow.adoptedStyleSheets = [sheet];
	const host = document.createElement('div');
	shadow.appendChild(host);
	const view = new EditorView({
		parent: host,
		root: shadow,
		state: EditorState.create({
			doc,
			extensions: [
				lineNumbers(),
				history(),
				drawSelection(),
				highlightActiveLine(),
				indentOnInput(),
				bracketMatching(),
				syntaxHighlighting(style),
				keymap.of([...defaultKeymap, ...historyKeymap, indentWithTab]),
				lang.of(languageOf(app)),
				ph(placeholder),
				EditorView.contentAttributes.of({ 'aria-label': label, 'aria-multiline': 'true' }),
				EditorView.updateListener.of((u) => {
					if (u.docChanged && onChange) onChange(u.state.doc.toString());
				}),
			],
		}),
	});
	return {
		setApp(a) {
			view.dispatch({ effects: lang.reconfigure(languageOf(a)) });
		},
		setDoc(text) {
			view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
		},
		focus() {
			view.focus();
		},
		destroy() {
			view.destroy();
			host.remove();
		},
	};
}
