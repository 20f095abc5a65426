import { defaultKeymap, history, historyKeymap } from '@codemirror/commands';
import { yaml } from '@codemirror/lang-yaml';
import { HighlightStyle, bracketMatching, indentOnInput, syntaxHighlighting } from '@codemirror/language';
import { type Diagnostic, lintGutter, setDiagnostics } from '@codemirror/lint';
import { EditorState } from '@codemirror/state';
import { EditorView, highlightActiveLine, highlightActiveLineGutter, keymap, lineNumbers } from '@codemirror/view';
// @codemirror/language's own dependency: the tag names its highlighters are written against.
import { tags } from '@lezer/highlight';
import { useEffect, useId, useRef } from 'react';
import type { Issue } from '../lib/yaml';

const highlight = HighlightStyle.define([
  { tag: tags.propertyName, color: 'var(--accent)' },
  { tag: [tags.string, tags.special(tags.string)], color: 'var(--ok)' },
  { tag: [tags.number, tags.bool, tags.null], color: 'var(--warn)' },
  { tag: tags.comment, color: 'var(--muted)', fontStyle: 'italic' },
  { tag: [tags.punctuation, tags.separator, tags.squareBracket, tags.brace], color: 'var(--muted)' },
  { tag: [tags.keyword, tags.definitionKeyword, tags.typeName], color: 'var(--info)' },
]);

const theme = EditorView.theme({
  '&': { backgroundColor: 'var(--code-bg)', color: 'var(--text)' },
  '.cm-content': { caretColor: 'var(--text-strong)', padding: '8px 0' },
  '.cm-gutters': { backgroundColor: 'var(--panel-2)', color: 'var(--faint)', borderRight: '1px solid var(--border)' },
  '.cm-activeLine': { backgroundColor: 'var(--accent-soft)' },
  '.cm-activeLineGutter': { backgroundColor: 'var(--accent-soft)', color: 'var(--text)' },
  '&.cm-focused': { outline: 'none' },
  '&.cm-focused .cm-selectionBackground, .cm-selectionBackground, ::selection': { backgroundColor: 'rgba(91,157,255,0.3) !important' },
  '.cm-cursor': { borderLeftColor: 'var(--text-strong)' },
  '.cm-lintRange-error': { backgroundImage: 'none', textDecoration: 'wavy underline var(--bad)', textUnderlineOffset: '3px' },
  '.cm-tooltip': { backgroundColor: 'var(--panel)', border: '1px solid var(--border-strong)', color: 'var(--text)' },
  '.cm-diagnostic-error': { borderLeftColor: 'var(--bad)' },
});

function toDiagnostics(state: EditorState, issues: readonly Issue[]): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const i of issues) {
    if (!i.line || i.line < 1 || i.line > state.doc.lines) continue;
    const line = state.doc.line(i.line);
    const from = Math.min(line.to, line.from + Math.max(0, (i.column ?? 1) - 1));
    out.push({ from, to: Math.max(from, line.to), severity: 'error', message: i.path ? `${i.path}: ${i.message}` : i.message });
  }
  return out;
}

/**
 * A YAML editor with problems marked at their lines (gutter, underline, tooltip) and listed below
 * it, each a button that moves the cursor to its line. Tab is left to move focus, as everywhere
 * else in the console; Enter keeps indentation.
 */
export function YamlEditor({ value, onChange, label, issues = [], minHeight }: { value: string; onChange: (text: string) => void; label: string; issues?: readonly Issue[]; minHeight?: number }) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const onChangeRef = useRef(onChange);
  onChangeRef.current = onChange;
  const labelId = useId();

  useEffect(() => {
    if (!host.current) return;
    const v = new EditorView({
      parent: host.current,
      state: EditorState.create({
        doc: value,
        extensions: [
          lineNumbers(),
          highlightActiveLineGutter(),
          highlightActiveLine(),
          history(),
          indentOnInput(),
          bracketMatching(),
          yaml(),
          syntaxHighlighting(highlight),
          lintGutter(),
          keymap.of([...defaultKeymap, ...historyKeymap]),
          EditorState.tabSize.of(2),
          // The console's Content-Security-Policy admits only <style> elements carrying its nonce.
          EditorView.cspNonce.of(document.querySelector<HTMLMetaElement>('meta[name="csp-nonce"]')?.content ?? ''),
          EditorView.contentAttributes.of({ 'aria-labelledby': labelId, 'aria-multiline': 'true', role: 'textbox', spellcheck: 'false' }),
          EditorView.updateListener.of((u) => {
            if (u.docChanged) onChangeRef.current(u.state.doc.toString());
          }),
          theme,
        ],
      }),
    });
    view.current = v;
    return () => {
      v.destroy();
      view.current = null;
    };
    // The editor is created once; later values arrive through the effect below.
  }, [labelId]);

  useEffect(() => {
    const v = view.current;
    if (!v) return;
    const current = v.state.doc.toString();
    if (current !== value) v.dispatch({ changes: { from: 0, to: current.length, insert: value } });
  }, [value]);

  useEffect(() => {
    const v = view.current;
    if (!v) return;
    v.dispatch(setDiagnostics(v.state, toDiagnostics(v.state, issues)));
  }, [issues, value]);

  const goTo = (i: Issue) => {
    const v = view.current;
    if (!v || !i.line || i.line > v.state.doc.lines) return;
    const line = v.state.doc.line(i.line);
    const pos = Math.min(line.to, line.from + Math.max(0, (i.column ?? 1) - 1));
    v.dispatch({ selection: { anchor: pos }, scrollIntoView: true });
    v.focus();
  };

  return (
    <div className="stack" style={{ gap: 8 }}>
      <span id={labelId} className="field">
        <span className="label">{label}</span>
      </span>
      <div className="editor" ref={host} style={minHeight ? { minHeight } : undefined} />
      {issues.length > 0 ? (
        <ul className="issues" aria-label="Problems in the YAML">
          {issues.map((i, n) => (
            <li key={n}>
              <button type="button" onClick={() => goTo(i)} disabled={!i.line}>
                <span className="at">{i.line ? `Line ${i.line}${i.column ? `:${i.column}` : ''}` : 'Document'}</span>
                <span>
                  {i.path ? <code>{i.path}</code> : null} {i.message}
                </span>
              </button>
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}
