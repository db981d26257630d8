//! Wiring for sign-in with Google and Facebook: the verifiers the settings name, or, outside
//! production with neither configured, the built-in simulators.

use std::sync::Arc;

use crate::adapters::social::{FacebookSettings, FacebookVerifier, GoogleSettings, GoogleVerifier};
use crate::auth::social::SocialProviders;
use crate::config::Settings;
use crate::ports::{Clock, SocialTokenVerifier};
use crate::sim::social::{
    SIM_FACEBOOK_APP_ID, SIM_FACEBOOK_APP_SECRET, SIM_GOOGLE_CLIENT_ID, SocialSim,
};

pub(super) async fn social_providers(
    settings: &Settings,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<SocialProviders> {
    let mut config = settings.social.clone();
    if !settings.production && config.google.is_none() && config.facebook.is_none() {
        let sim = SocialSim::new(
            SIM_GOOGLE_CLIENT_ID,
            SIM_FACEBOOK_APP_ID,
            SIM_FACEBOOK_APP_SECRET,
        );
        let addr = sim.spawn(([127, 0, 0, 1], 0).into()).await?;
        let base = format!("http://{addr}");
        config.google = Some(GoogleSettings {
            client_ids: vec![SIM_GOOGLE_CLIENT_ID.into()],
            jwks_url: format!("{base}/google/oauth2/v3/certs").parse()?,
            allowed_hd: None,
        });
        config.facebook = Some(FacebookSettings {
            app_id: SIM_FACEBOOK_APP_ID.into(),
            app_secret: SIM_FACEBOOK_APP_SECRET.into(),
            jwks_url: format!("{base}/facebook/.well-known/oauth/openid/jwks/").parse()?,
            graph_url: format!("{base}/facebook").parse()?,
            graph_version: "v21.0".into(),
        });
        tracing::warn!(
            google_token = %format!("{base}/google/token"),
            facebook_token = %format!("{base}/facebook/token"),
            "GOOGLE_CLIENT_IDS and FACEBOOK_APP_ID are not set: Google and Facebook sign-in use the built-in simulators; \
             POST claims such as {{\"sub\":\"g-1\",\"email\":\"anna.rider@example.org\",\"email_verified\":true}} to google_token or facebook_token for a token"
        );
    }
    let google = config.google.map(|google| {
        Arc::new(GoogleVerifier::new(
            google,
            http.clone(),
            config.timeout,
            config.min_refetch,
            clock.clone(),
        )) as Arc<dyn SocialTokenVerifier>
    });
    let facebook = config.facebook.map(|facebook| {
        Arc::new(FacebookVerifier::new(
            facebook,
            http,
            config.timeout,
            config.min_refetch,
            clock,
        )) as Arc<dyn SocialTokenVerifier>
    });
    if google.is_none() && facebook.is_none() {
        tracing::info!(
            "Google and Facebook sign-in are off (no GOOGLE_CLIENT_IDS, no FACEBOOK_APP_ID)"
        );
    }
    Ok(SocialProviders {
        settings: config.settings,
        google,
        facebook,
    })
}
