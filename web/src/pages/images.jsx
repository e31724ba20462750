// TEMPORARY: replaced before commit
export function ImagesPage() { return <p>todo</p>; }
