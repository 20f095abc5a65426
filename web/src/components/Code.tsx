import { useState } from 'react';
import { Icon } from './Icon';

async function copyText(text: string): Promise<void> {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  // Plain http on a non-local address has no clipboard API; the old selection trick still works.
  const ta = document.createElement('textarea');
  ta.value = text;
  ta.setAttribute('readonly', '');
  ta.style.position = 'fixed';
  ta.style.opacity = '0';
  document.body.appendChild(ta);
  ta.select();
  document.execCommand('copy');
  ta.remove();
}

export function CopyButton({ text, label = 'Copy', className = 'btn small' }: { text: string; label?: string; className?: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <button
      type="button"
      className={className}
      onClick={() => {
        copyText(text).then(
          () => {
            setCopied(true);
            setTimeout(() => setCopied(false), 1500);
          },
          () => setCopied(false),
        );
      }}
    >
      <Icon name={copied ? 'check' : 'copy'} />
      <span aria-live="polite">{copied ? 'Copied' : label}</span>
    </button>
  );
}

export function CodeBlock({ code, label, wrap, copy = true }: { code: string; label: string; wrap?: boolean; copy?: boolean }) {
  return (
    <div className={`code${wrap ? ' wrap' : ''}`}>
      <pre aria-label={label} tabIndex={0}>
        <code>{code}</code>
      </pre>
      {copy ? (
        <div className="copy">
          <CopyButton text={code} label={`Copy`} />
        </div>
      ) : null}
    </div>
  );
}

/** A secret shown once after it is created, with a copy button and a warning. */
export function SecretOnce({ secret, what }: { secret: string; what: string }) {
  return (
    <div className="stack" style={{ gap: 8 }}>
      <div className="alert warn" role="status">
        <div className="title">Copy the {what} now</div>
        <div className="hint">It is shown once. The server keeps only its hash and cannot show it again.</div>
      </div>
      <div className="secret">
        <code aria-label={`New ${what}`}>{secret}</code>
        <CopyButton text={secret} />
      </div>
    </div>
  );
}
