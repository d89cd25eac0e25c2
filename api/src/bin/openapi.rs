//! `make openapi`: writes the OpenAPI document generated from the code to `openapi.json`.

fn main() -> std::io::Result<()> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.json");
    std::fs::write(path, api::openapi::document_json())?;
    println!("wrote openapi.json");
    Ok(())
}
