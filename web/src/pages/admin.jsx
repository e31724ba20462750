// TEMPORARY: replaced before commit
export function AdminPage() { return <p>todo</p>; }
