//! The device a session belongs to, as the app describes it.

use super::InvalidInput;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceType {
    Ios,
    Android,
    Web,
    Other,
}

impl DeviceType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ios => "IOS",
            Self::Android => "ANDROID",
            Self::Web => "WEB",
            Self::Other => "OTHER",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "IOS" => Some(Self::Ios),
            "ANDROID" => Some(Self::Android),
            "WEB" => Some(Self::Web),
            "OTHER" => Some(Self::Other),
            _ => None,
        }
    }
}

/// Device fields, each bounded; `None` when the app did not send it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Device {
    pub device_id: Option<String>,
    pub device_type: Option<DeviceType>,
    pub device_name: Option<String>,
    pub platform: Option<String>,
    pub platform_version: Option<String>,
    pub app_version: Option<String>,
    pub push_token: Option<String>,
}

/// The raw fields as they arrive; `Device::parse` bounds them.
#[derive(Debug, Clone, Default)]
pub struct DeviceFields {
    pub device_id: Option<String>,
    pub device_type: Option<DeviceType>,
    pub device_name: Option<String>,
    pub platform: Option<String>,
    pub platform_version: Option<String>,
    pub app_version: Option<String>,
    pub push_token: Option<String>,
}

impl Device {
    pub fn parse(fields: DeviceFields) -> Result<Self, InvalidInput> {
        Ok(Self {
            device_id: bounded("device.deviceId", fields.device_id, 255)?,
            device_type: fields.device_type,
            device_name: bounded("device.deviceName", fields.device_name, 255)?,
            platform: bounded("device.platform", fields.platform, 64)?,
            platform_version: bounded("device.platformVersion", fields.platform_version, 64)?,
            app_version: bounded("device.appVersion", fields.app_version, 64)?,
            push_token: bounded("device.pushToken", fields.push_token, 4096)?,
        })
    }
}

/// Trims, maps blank to `None`, and refuses over-long values and control characters.
fn bounded(
    field: &'static str,
    value: Option<String>,
    max_chars: usize,
) -> Result<Option<String>, InvalidInput> {
    let Some(value) = value else { return Ok(None) };
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    if value.chars().count() > max_chars {
        return Err(InvalidInput::new(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(InvalidInput::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(Some(value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_fields_are_trimmed_and_bounded() {
        let device = Device::parse(DeviceFields {
            device_id: Some("  abc ".into()),
            device_name: Some("   ".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(device.device_id.as_deref(), Some("abc"));
        assert_eq!(device.device_name, None);

        let err = Device::parse(DeviceFields {
            app_version: Some("1".repeat(65)),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(err.field, "device.appVersion");

        let err = Device::parse(DeviceFields {
            device_name: Some("evil\u{0}name".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(err.field, "device.deviceName");
    }
}
