import { type InputHTMLAttributes, type ReactNode, type SelectHTMLAttributes, type TextareaHTMLAttributes, useId } from 'react';
import type { ApiError } from '../api/client';

/**
 * Labelled form controls. Every control has a <label>; a hint and an error are tied to it with
 * aria-describedby, and an error sets aria-invalid, so screen readers announce both.
 */

interface Common {
  label: ReactNode;
  hint?: ReactNode;
  /** An error message, or the API error whose field errors for `name` are shown here. */
  error?: string | ApiError | undefined;
  /** The field's path in the request body, to pick its errors out of an API error. */
  name?: string;
}

function errorText(error: Common['error'], name: string | undefined): string | undefined {
  if (!error) return undefined;
  if (typeof error === 'string') return error;
  if (!name) return undefined;
  const mine = error.forField(name);
  return mine.length > 0 ? mine.map((e) => e.message).join('; ') : undefined;
}

function useDescribed(hint: ReactNode, err: string | undefined) {
  const id = useId();
  const hintId = hint ? `${id}-hint` : undefined;
  const errId = err ? `${id}-err` : undefined;
  return { id, hintId, errId, describedBy: [errId, hintId].filter(Boolean).join(' ') || undefined };
}

function Extra({ hint, hintId, err, errId }: { hint: ReactNode; hintId: string | undefined; err: string | undefined; errId: string | undefined }) {
  return (
    <>
      {err ? (
        <span className="error" id={errId}>
          {err}
        </span>
      ) : null}
      {hint ? (
        <span className="hint" id={hintId}>
          {hint}
        </span>
      ) : null}
    </>
  );
}

export function TextField({ label, hint, error, name, className, ...rest }: Common & Omit<InputHTMLAttributes<HTMLInputElement>, 'name'>) {
  const err = errorText(error, name);
  const d = useDescribed(hint, err);
  return (
    <div className={`field ${className ?? ''}`}>
      <label htmlFor={d.id}>{label}</label>
      <input id={d.id} name={name} className="input" aria-invalid={err ? true : undefined} aria-describedby={d.describedBy} {...rest} />
      <Extra hint={hint} hintId={d.hintId} err={err} errId={d.errId} />
    </div>
  );
}

export function SelectField({
  label,
  hint,
  error,
  name,
  children,
  className,
  ...rest
}: Common & Omit<SelectHTMLAttributes<HTMLSelectElement>, 'name'> & { children: ReactNode }) {
  const err = errorText(error, name);
  const d = useDescribed(hint, err);
  return (
    <div className={`field ${className ?? ''}`}>
      <label htmlFor={d.id}>{label}</label>
      <select id={d.id} name={name} className="select" aria-invalid={err ? true : undefined} aria-describedby={d.describedBy} {...rest}>
        {children}
      </select>
      <Extra hint={hint} hintId={d.hintId} err={err} errId={d.errId} />
    </div>
  );
}

export function TextAreaField({ label, hint, error, name, className, ...rest }: Common & Omit<TextareaHTMLAttributes<HTMLTextAreaElement>, 'name'>) {
  const err = errorText(error, name);
  const d = useDescribed(hint, err);
  return (
    <div className={`field ${className ?? ''}`}>
      <label htmlFor={d.id}>{label}</label>
      <textarea id={d.id} name={name} className="textarea" aria-invalid={err ? true : undefined} aria-describedby={d.describedBy} spellCheck={false} {...rest} />
      <Extra hint={hint} hintId={d.hintId} err={err} errId={d.errId} />
    </div>
  );
}

export function CheckField({ label, hint, ...rest }: { label: ReactNode; hint?: ReactNode } & Omit<InputHTMLAttributes<HTMLInputElement>, 'type'>) {
  const id = useId();
  return (
    <div className="field">
      <label className="check" htmlFor={id}>
        <input id={id} type="checkbox" aria-describedby={hint ? `${id}-hint` : undefined} {...rest} />
        <span>{label}</span>
      </label>
      {hint ? (
        <span className="hint" id={`${id}-hint`}>
          {hint}
        </span>
      ) : null}
    </div>
  );
}
