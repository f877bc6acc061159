//! Creates the plugin's pads and child elements through GStreamer's own C constructors.
//!
//! glib-rs builds objects (`Object::new`, `Object::builder`, `PadBuilder`, the element and
//! appsink builders) through a path that first asks gio whether the type is `GInitable`.
//! That one reference links `libgio-2.0` into the plugin, and every process that loads the
//! plugin pays for loading and relocating gio: on the benchmark's 120 s corpus that was about
//! 245 instructions per muxed sample, 5 % of the muxer's whole cost. GStreamer's constructors
//! do the same work without gio; `scripts/check-links.sh` (run by the test suite) checks
//! that gio stays out.

use gst::glib::translate::{FromGlibPtrNone, IntoGlib, ToGlibPtr};
use gst::prelude::*;

/// Why a child object could not be created.
#[derive(Debug, thiserror::Error)]
pub enum ConstructError {
    /// GStreamer's constructor returned nothing (e.g. a target that cannot be ghosted).
    #[error("GStreamer refused to create `{0}`")]
    Refused(String),
    /// The object was created but is not of the type the caller asked for.
    #[error("`{0}` was created with an unexpected type")]
    WrongType(String),
}

/// A new object of type `T` (an element or pad type this process has registered), named
/// `name`.
pub fn object<T: IsA<gst::Object>>(name: &str) -> T {
    // SAFETY: `T::static_type()` is a registered, instantiable GstObject type; no properties
    // are passed. The new object is floating, which `from_glib_none` sinks.
    let object = unsafe {
        let ptr = gst::glib::gobject_ffi::g_object_new_with_properties(
            T::static_type().into_glib(),
            0,
            std::ptr::null_mut(),
            std::ptr::null(),
        );
        gst::Object::from_glib_none(ptr as *mut gst::ffi::GstObject)
    };
    object.set_property("name", name);
    object
        .downcast::<T>()
        .expect("g_object_new gives an object of the type asked for")
}

/// A new pad named `name` from `templ`, of the template's pad type `T` (a template made with
/// `PadTemplate::with_gtype` gives a pad of that subclass).
pub fn pad_from_template<T: IsA<gst::Pad>>(
    templ: &gst::PadTemplate,
    name: &str,
) -> Result<T, ConstructError> {
    // SAFETY: the template and the name are valid for the call; the new pad is floating.
    let ptr = unsafe {
        gst::ffi::gst_pad_new_from_template(templ.to_glib_none().0, name.to_glib_none().0)
    };
    if ptr.is_null() {
        return Err(ConstructError::Refused(name.to_string()));
    }
    // SAFETY: non-null pointer to a GstPad just created.
    let pad = unsafe { gst::Pad::from_glib_none(ptr) };
    pad.downcast::<T>()
        .map_err(|_| ConstructError::WrongType(name.to_string()))
}

/// A new ghost pad named `name` for `target`.
pub fn ghost_pad(name: &str, target: &gst::Pad) -> Result<gst::GhostPad, ConstructError> {
    // SAFETY: name and target are valid for the call; the new pad is floating (or NULL when
    // the target cannot be ghosted).
    let ptr =
        unsafe { gst::ffi::gst_ghost_pad_new(name.to_glib_none().0, target.to_glib_none().0) };
    if ptr.is_null() {
        return Err(ConstructError::Refused(name.to_string()));
    }
    // SAFETY: non-null pointer to a GstGhostPad (a GstPad) just created.
    let pad = unsafe { gst::Pad::from_glib_none(ptr) };
    pad.downcast::<gst::GhostPad>()
        .map_err(|_| ConstructError::WrongType(name.to_string()))
}
