//! PATCH bodies: a field absent, `null` or set, told apart.

/// For PATCH bodies, on a field that cannot be cleared (`#[serde(default, deserialize_with =
/// "non_null")]`): absent is `None`, and an explicit `null` is a 422 naming the field rather
/// than silently meaning "unchanged".
pub fn non_null<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// A PATCH body's field that can be cleared: absent ([`Patch::Keep`]), `null`
/// ([`Patch::Clear`]) or a value ([`Patch::Set`]).
///
/// In a request struct, declare it `#[serde(default)]` (absent is `Keep`: without it serde
/// would read an absent field as `null`) and `#[schema(value_type = Option<T>, ...)]`, so the
/// document shows the nullable `T` with the field's constraints, as an `Option<T>` field would
/// (utoipa's derive tells `Option` by its name only: a bare `Patch<T>` field would be documented
/// as a reference, without its constraints). A field that cannot be cleared stays an
/// `Option<T>` with [`non_null`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Patch<T> {
    /// Absent: the column keeps its value.
    Keep,
    /// `null`: the column becomes NULL.
    Clear,
    /// A value: the column becomes it.
    Set(T),
}

/// `Keep` (whatever `T` is: no `T: Default` bound, unlike a derived `Default`).
impl<T> Default for Patch<T> {
    fn default() -> Self {
        Self::Keep
    }
}

impl<T> Patch<T> {
    /// The column's value once patched.
    pub fn apply(self, current: Option<T>) -> Option<T> {
        match self {
            Self::Keep => current,
            Self::Clear => None,
            Self::Set(value) => Some(value),
        }
    }

    /// Whether the field was absent.
    pub fn is_keep(&self) -> bool {
        matches!(self, Self::Keep)
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Patch<U> {
        match self {
            Self::Keep => Patch::Keep,
            Self::Clear => Patch::Clear,
            Self::Set(value) => Patch::Set(f(value)),
        }
    }

    /// Checks (or normalises) a value sent; `Keep` and `Clear` pass as they are.
    pub fn try_map<U, E>(self, f: impl FnOnce(T) -> Result<U, E>) -> Result<Patch<U>, E> {
        Ok(match self {
            Self::Keep => Patch::Keep,
            Self::Clear => Patch::Clear,
            Self::Set(value) => Patch::Set(f(value)?),
        })
    }
}

impl<T> Patch<Option<T>> {
    /// A value that normalises to none (blank text) clears, as `null` does.
    pub fn flatten(self) -> Patch<T> {
        match self {
            Self::Keep => Patch::Keep,
            Self::Clear | Self::Set(None) => Patch::Clear,
            Self::Set(Some(value)) => Patch::Set(value),
        }
    }
}

/// `null` is `Clear`, anything else `Set` (absence is the field's `#[serde(default)]`).
impl<T> From<Option<T>> for Patch<T> {
    fn from(value: Option<T>) -> Self {
        value.map_or(Self::Clear, Self::Set)
    }
}

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Patch<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Option::<T>::deserialize(deserializer).map(Self::from)
    }
}

/// The nullable `T` (what `Option<T>` documents).
impl<T> utoipa::PartialSchema for Patch<T>
where
    Option<T>: utoipa::PartialSchema,
{
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <Option<T> as utoipa::PartialSchema>::schema()
    }
}

impl<T: utoipa::ToSchema> utoipa::ToSchema for Patch<T>
where
    Option<T>: utoipa::PartialSchema,
{
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        T::schemas(schemas);
    }
}

/// A checked PATCH field made on a stored value: `Option` for a column that cannot be NULL
/// (`None`: unchanged), [`Patch`] for one that can.
pub trait Edit<T> {
    fn edit(self, current: T) -> T;
}

impl<T> Edit<T> for Option<T> {
    fn edit(self, current: T) -> T {
        self.unwrap_or(current)
    }
}

impl<T> Edit<Option<T>> for Patch<T> {
    fn edit(self, current: Option<T>) -> Option<T> {
        self.apply(current)
    }
}

/// `edit!(change => row; a, b, c)`: each named field of `row` with the change's field of the
/// same name made on it ([`Edit`]).
#[macro_export]
macro_rules! edit {
    ($change:ident => $row:ident; $($field:ident),+ $(,)?) => {
        $( $row.$field = $crate::domain::patch::Edit::edit($change.$field, $row.$field); )+
    };
}
