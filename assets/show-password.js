// "Show password": reveals the checkbox the page rendered hidden (without this script the
// page works as is) and toggles the password field between hidden and plain text.
for (const toggle of document.querySelectorAll('[data-reveals]')) {
  const field = document.getElementById(toggle.getAttribute('data-reveals'));
  const box = toggle.querySelector('input[type=checkbox]');
  if (!field || !box) continue;
  toggle.hidden = false;
  box.addEventListener('change', () => {
    field.type = box.checked ? 'text' : 'password';
  });
  // Never submit a password field left in plain text (the browser would offer to remember it as text).
  field.form?.addEventListener('submit', () => {
    field.type = 'password';
  });
}
